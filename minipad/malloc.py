"""The C allocator's setting a training program wants: called once at the program's start (minipad/__main__.py,
the lessons, the benchmarks), never by importing a module, since it changes the whole process."""
import ctypes


def keep_freed_memory():
    """Ask glibc's malloc to keep the memory it frees for reuse instead of returning it to the system.

    A training step allocates and frees tens of megabytes of activations. By default glibc hands the freed
    top of its heap back to the system at the end of each step, and the next step takes it back one 4 KiB
    page fault at a time: about 14,000 faults per step of the 2-layer width-64 model at batch 32 x 180,
    which made the step 1.3-1.6 times slower on a 2-core virtual machine. The process keeps its peak
    memory instead. Returns True if glibc took the settings; elsewhere nothing changes and it returns False.
    """
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers from glibc's malloc.h
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the Python process already uses
    except (OSError, AttributeError, TypeError):  # no mallopt: not glibc (macOS, Windows)
        return False
    # Keep up to 1 GiB of free memory at the top of the heap; serve blocks up to 32 MiB (glibc's largest
    # allowed threshold) from the heap rather than from fresh mmap'ed pages.
    return bool(mallopt(M_TRIM_THRESHOLD, 1 << 30)) and bool(mallopt(M_MMAP_THRESHOLD, 32 << 20))
