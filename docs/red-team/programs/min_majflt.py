import mmap, os, resource, sys
def probe(path, pages):
    fd = os.open(path, os.O_RDONLY)
    m = mmap.mmap(fd, (max(pages)+1)*4096, prot=mmap.PROT_READ)
    m.madvise(mmap.MADV_RANDOM)
    out = []
    for p in pages:
        a = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
        m[p*4096]
        out.append(resource.getrusage(resource.RUSAGE_SELF).ru_majflt - a)
    return out
path = sys.argv[1]
if sys.argv[2] == 'send':
    fd = os.open(path, os.O_RDONLY)
    for p in [1, 4, 9]: os.pread(fd, 1, p*4096)  # plain read (readahead may pull neighbours)
else:
    print(probe(path, list(range(8, 168, 16))))
