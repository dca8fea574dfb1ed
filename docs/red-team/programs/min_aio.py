# python3 min_aio.py send 4242 &  python3 min_aio.py read   (in two sandboxes: the global aio-nr counter)
import _ctypes, os, sys, time
class L(_ctypes._SimpleCData): _type_ = "q"
SC = _ctypes.dlsym(_ctypes.dlopen(None), "syscall")
def sys_(*a): return _ctypes.call_function(SC, tuple(L(x) if isinstance(x, int) else x for x in a))
if sys.argv[1] == "send":
    ctx = bytes(8); print("io_setup", sys_(206, int(sys.argv[2]), ctx)); time.sleep(10)
else:
    for _ in range(20):
        print(open(os.path.join("/", "proc", "sys/fs/aio-nr")).read().strip()); time.sleep(0.5)
