"""Emulated DMF modules: DMF_OBJECT / collection plumbing (dmfobject), DMF_RingBuffer (ringbuffer),
DMF_CrashDump and DMF_LiveKernelDump (crashdump, livekerneldump). All state lives in emulated kernel
memory (dmfemu.memory) and is laid out with dmfkd.layouts."""
