import _ctypes, os, struct, sys, time, threading
class L(_ctypes._SimpleCData): _type_ = "q"
SC = _ctypes.dlsym(_ctypes.dlopen(None), "syscall")
def sys_(*a): return _ctypes.call_function(SC, tuple(L(x) if isinstance(x, int) else x for x in a))
F = os.path.realpath("/usr/bin/env"); ADDR = 0x20000000
fd = os.open(F, os.O_RDONLY)
a = sys_(9, ADDR, 4096, 1, 1 | 0x100000, fd, 0)
print("map", hex(a & 0xffffffff), F)
for l in open('/proc/self/maps'):
    if '/usr/bin/env' in l: print(l.strip())
if sys.argv[1] == 'wait':
    val = int.from_bytes(os.pread(fd, 4, 0), "little")
    s=time.time(); r = sys_(202, ADDR, 0, val, struct.pack("qq", 10, 0), 0, 0); print("wait ret", r, round(time.time()-s,2))
else:
    print("woken", sys_(202, ADDR, 1, 0x7fffffff, 0, 0, 0))
