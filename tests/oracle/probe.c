/*
 * dmfkd oracle probe: asks Microsoft's dbgeng (the one shipped in the pykd 0.3.4.15 wheel) about
 * kernel dump files and prints one JSON object per request on stdout.
 *
 * Usage (under Wine, see tests/oracle/dbgeng.py and spec/dbgeng-oracle.md):
 *     probe.exe DLLDIR  < requests
 * DLLDIR holds dbgeng.dll & co.; it is loaded by full path because Wine would otherwise pick its
 * own stub dbgeng (spec/dbgeng-oracle.md "Required environment", together with
 * WINEDLLOVERRIDES=dbgeng,dbghelp,dbgmodel,symsrv,srcsrv=n).
 *
 * Requests, one per line (words separated by one space; the rest of the line is the argument):
 *     open PATH          OpenDumpFile + WaitForEvent, then debuggee facts and bugcheck data
 *     tags               every tagged block (StartEnumTagged/GetNextTagged) with ReadTagged's bytes
 *     tags nodata        the same without ReadTagged
 *     readtag GUID       ReadTagged of one GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)
 *     read VA SIZE       IDebugDataSpaces::ReadVirtual (hex numbers)
 *     phys PA SIZE       IDebugDataSpaces::ReadPhysical
 *     kdata INDEX SIZE   IDebugDataSpaces::ReadDebuggerData (DEBUG_DATA_* index, decimal or hex)
 *     modules            IDebugSymbols module list (base, size, names)
 *     regs               IDebugRegisters instruction and stack offsets
 *     exec COMMAND       IDebugControl::Execute, text captured by our output callbacks
 *     close              EndSession
 * Every reply carries "op", "hr" where a call was made, and "text"/"warn" with whatever dbgeng
 * printed while the request ran ("warn" = the part sent with the ERROR/WARNING output masks).
 * Bytes >= 0x80 in dbgeng's text are passed as the Latin-1 code points (\u00XX).
 */
#define COBJMACROS
#define INITGUID
#include <windows.h>
#include <initguid.h>
#include <dbgeng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_READ (64u * 1024u * 1024u) /* bound on any buffer a dump's size field can request */

typedef HRESULT(STDAPICALLTYPE *DebugCreateFn)(REFIID, PVOID *);

static IDebugClient4 *client;
static IDebugControl3 *control;
static IDebugDataSpaces3 *data;
static IDebugSymbols *symbols;
static IDebugRegisters *registers;

/* ---- captured dbgeng output ---------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} TextBuf;

static TextBuf all_text, warn_text;

static void text_append(TextBuf *t, const char *s)
{
    size_t n = strlen(s);
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = realloc(t->buf, cap);
        if (!grown)
            return;
        t->buf = grown;
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n + 1);
    t->len += n;
}

static void text_reset(void)
{
    all_text.len = warn_text.len = 0;
    if (all_text.buf)
        all_text.buf[0] = 0;
    if (warn_text.buf)
        warn_text.buf[0] = 0;
}

typedef struct {
    IDebugOutputCallbacksVtbl *lpVtbl;
} OutputSink;

static HRESULT STDMETHODCALLTYPE sink_query(IDebugOutputCallbacks *self, REFIID iid, PVOID *out)
{
    if (IsEqualIID(iid, &IID_IUnknown) || IsEqualIID(iid, &IID_IDebugOutputCallbacks)) {
        *out = self;
        return S_OK;
    }
    *out = NULL;
    return E_NOINTERFACE;
}

static ULONG STDMETHODCALLTYPE sink_addref(IDebugOutputCallbacks *self) { (void)self; return 1; }
static ULONG STDMETHODCALLTYPE sink_release(IDebugOutputCallbacks *self) { (void)self; return 0; }

static HRESULT STDMETHODCALLTYPE sink_output(IDebugOutputCallbacks *self, ULONG mask, PCSTR text)
{
    (void)self;
    if (!text)
        return S_OK;
    text_append(&all_text, text);
    if (mask & (DEBUG_OUTPUT_ERROR | DEBUG_OUTPUT_WARNING | DEBUG_OUTPUT_EXTENSION_WARNING))
        text_append(&warn_text, text);
    return S_OK;
}

static IDebugOutputCallbacksVtbl sink_vtbl = {sink_query, sink_addref, sink_release, sink_output};
static OutputSink sink = {&sink_vtbl};

/* ---- JSON output --------------------------------------------------------------------------- */

static void json_str(const char *s)
{
    static const char hexdig[] = "0123456789abcdef";
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        if (c == '"' || c == '\\') {
            putchar('\\');
            putchar((int)c);
        } else if (c == '\n') {
            fputs("\\n", stdout);
        } else if (c < 0x20 || c >= 0x7f) {
            printf("\\u00%c%c", hexdig[c >> 4], hexdig[c & 15]);
        } else {
            putchar((int)c);
        }
    }
    putchar('"');
}

static void json_hex(const unsigned char *b, size_t n)
{
    static const char hexdig[] = "0123456789abcdef";
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        putchar(hexdig[b[i] >> 4]);
        putchar(hexdig[b[i] & 15]);
    }
    putchar('"');
}

static void json_begin(const char *op) { printf("{\"op\":\"%s\"", op); }

static void json_hr(const char *key, HRESULT hr) { printf(",\"%s\":%lu", key, (unsigned long)(ULONG)hr); }

static void json_u64(const char *key, ULONG64 v) { printf(",\"%s\":%llu", key, (unsigned long long)v); }

static void json_key_str(const char *key, const char *s)
{
    printf(",\"%s\":", key);
    json_str(s);
}

static void json_end(void)
{
    json_key_str("text", all_text.buf ? all_text.buf : "");
    json_key_str("warn", warn_text.buf ? warn_text.buf : "");
    fputs("}\n", stdout);
    fflush(stdout);
    text_reset();
}

static void guid_text(const GUID *g, char out[37])
{
    snprintf(out, 37, "%08lx-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", (unsigned long)g->Data1,
             g->Data2, g->Data3, g->Data4[0], g->Data4[1], g->Data4[2], g->Data4[3], g->Data4[4],
             g->Data4[5], g->Data4[6], g->Data4[7]);
}

static int guid_parse(const char *s, GUID *g)
{
    unsigned long d1;
    unsigned d2, d3, b[8];
    if (strlen(s) != 36 ||
        sscanf(s, "%8lx-%4x-%4x-%2x%2x-%2x%2x%2x%2x%2x%2x", &d1, &d2, &d3, &b[0], &b[1], &b[2], &b[3],
               &b[4], &b[5], &b[6], &b[7]) != 11)
        return 0;
    g->Data1 = d1;
    g->Data2 = (unsigned short)d2;
    g->Data3 = (unsigned short)d3;
    for (int i = 0; i < 8; i++)
        g->Data4[i] = (unsigned char)b[i];
    return 1;
}

/* ---- requests ------------------------------------------------------------------------------ */

static void do_open(const char *path)
{
    HRESULT hr = client->lpVtbl->OpenDumpFile(client, path);
    json_begin("open");
    json_key_str("path", path);
    json_hr("hr", hr);
    if (SUCCEEDED(hr)) {
        HRESULT wait = control->lpVtbl->WaitForEvent(control, DEBUG_WAIT_DEFAULT, INFINITE);
        json_hr("wait_hr", wait);
        ULONG cls = 0, qual = 0, cpu = 0, nproc = 0, platform = 0, major = 0, minor = 0;
        json_hr("type_hr", control->lpVtbl->GetDebuggeeType(control, &cls, &qual));
        json_u64("class", cls);
        json_u64("qualifier", qual);
        if (SUCCEEDED(control->lpVtbl->GetActualProcessorType(control, &cpu)))
            json_u64("machine", cpu);
        if (SUCCEEDED(control->lpVtbl->GetNumberProcessors(control, &nproc)))
            json_u64("processors", nproc);
        json_u64("pointer64", control->lpVtbl->IsPointer64Bit(control) == S_OK);
        char build[256] = "";
        ULONG spnum = 0;
        if (SUCCEEDED(control->lpVtbl->GetSystemVersion(control, &platform, &major, &minor, NULL, 0, NULL,
                                                        &spnum, build, sizeof build, NULL))) {
            json_u64("version_major", major);
            json_u64("build", minor);
            json_key_str("build_string", build);
        }
        ULONG timedate = 0, uptime = 0, fmt = 0;
        if (SUCCEEDED(control->lpVtbl->GetCurrentTimeDate(control, &timedate)))
            json_u64("time_date", timedate);
        if (SUCCEEDED(control->lpVtbl->GetCurrentSystemUpTime(control, &uptime)))
            json_u64("uptime", uptime);
        if (SUCCEEDED(control->lpVtbl->GetDumpFormatFlags(control, &fmt)))
            json_u64("format_flags", fmt);
        ULONG code = 0;
        ULONG64 a1 = 0, a2 = 0, a3 = 0, a4 = 0;
        HRESULT bc = control->lpVtbl->ReadBugCheckData(control, &code, &a1, &a2, &a3, &a4);
        json_hr("bugcheck_hr", bc);
        if (SUCCEEDED(bc))
            printf(",\"bugcheck\":[%lu,%llu,%llu,%llu,%llu]", (unsigned long)code, (unsigned long long)a1,
                   (unsigned long long)a2, (unsigned long long)a3, (unsigned long long)a4);
    }
    json_end();
}

static HRESULT read_tagged(const GUID *g, unsigned char **out, ULONG *size)
{
    ULONG total = 0;
    *out = NULL;
    *size = 0;
    HRESULT hr = data->lpVtbl->ReadTagged(data, (LPGUID)g, 0, NULL, 0, &total);
    if (FAILED(hr))
        return hr;
    if (total > MAX_READ)
        return E_OUTOFMEMORY;
    unsigned char *buf = malloc(total ? total : 1);
    if (!buf)
        return E_OUTOFMEMORY;
    hr = data->lpVtbl->ReadTagged(data, (LPGUID)g, 0, buf, total, &total);
    if (FAILED(hr)) {
        free(buf);
        return hr;
    }
    *out = buf;
    *size = total;
    return hr;
}

static void do_tags(int with_data)
{
    ULONG64 handle = 0;
    HRESULT hr = data->lpVtbl->StartEnumTagged(data, &handle);
    json_begin("tags");
    json_hr("hr", hr);
    fputs(",\"tags\":[", stdout);
    if (SUCCEEDED(hr)) {
        GUID g;
        ULONG size = 0;
        int first = 1;
        HRESULT next = S_OK;
        while ((next = data->lpVtbl->GetNextTagged(data, handle, &g, &size)) == S_OK) {
            char text[37];
            guid_text(&g, text);
            printf("%s{\"guid\":\"%s\",\"size\":%lu", first ? "" : ",", text, (unsigned long)size);
            first = 0;
            if (with_data) {
                unsigned char *buf;
                ULONG got;
                HRESULT rd = read_tagged(&g, &buf, &got);
                json_hr("read_hr", rd);
                if (SUCCEEDED(rd)) {
                    fputs(",\"hex\":", stdout);
                    json_hex(buf, got);
                    free(buf);
                }
            }
            putchar('}');
        }
        data->lpVtbl->EndEnumTagged(data, handle);
        putchar(']');
        json_hr("end_hr", next);
    } else {
        putchar(']');
    }
    json_end();
}

static void do_readtag(const char *arg)
{
    GUID g;
    json_begin("readtag");
    json_key_str("guid", arg);
    if (!guid_parse(arg, &g)) {
        json_key_str("error", "bad GUID");
    } else {
        unsigned char *buf;
        ULONG got;
        HRESULT hr = read_tagged(&g, &buf, &got);
        json_hr("hr", hr);
        if (SUCCEEDED(hr)) {
            fputs(",\"hex\":", stdout);
            json_hex(buf, got);
            free(buf);
        }
    }
    json_end();
}

static void do_read(const char *arg, int physical)
{
    unsigned long long addr = 0, size = 0;
    json_begin(physical ? "phys" : "read");
    if (sscanf(arg, "%llx %llx", &addr, &size) != 2 || size > MAX_READ) {
        json_key_str("error", "bad arguments");
        json_end();
        return;
    }
    json_u64("address", addr);
    json_u64("size", size);
    unsigned char *buf = malloc(size ? size : 1);
    ULONG got = 0;
    HRESULT hr = physical ? data->lpVtbl->ReadPhysical(data, addr, buf, (ULONG)size, &got)
                          : data->lpVtbl->ReadVirtual(data, addr, buf, (ULONG)size, &got);
    json_hr("hr", hr);
    json_u64("bytes_read", got);
    if (SUCCEEDED(hr)) {
        fputs(",\"hex\":", stdout);
        json_hex(buf, got);
    }
    free(buf);
    json_end();
}

static void do_kdata(const char *arg)
{
    unsigned long index = 0, size = 0;
    json_begin("kdata");
    if (sscanf(arg, "%li %li", (long *)&index, (long *)&size) != 2 || size > 4096) {
        json_key_str("error", "bad arguments");
        json_end();
        return;
    }
    unsigned char buf[4096];
    ULONG got = 0;
    HRESULT hr = data->lpVtbl->ReadDebuggerData(data, index, buf, size, &got);
    json_u64("index", index);
    json_hr("hr", hr);
    json_u64("data_size", got);
    if (SUCCEEDED(hr)) {
        fputs(",\"hex\":", stdout);
        json_hex(buf, got < size ? got : size);
    }
    json_end();
}

static void do_modules(void)
{
    ULONG loaded = 0, unloaded = 0;
    HRESULT hr = symbols->lpVtbl->GetNumberModules(symbols, &loaded, &unloaded);
    json_begin("modules");
    json_hr("hr", hr);
    fputs(",\"modules\":[", stdout);
    for (ULONG i = 0; SUCCEEDED(hr) && i < loaded && i < 4096; i++) {
        ULONG64 base = 0;
        DEBUG_MODULE_PARAMETERS params;
        char image[512] = "", module[256] = "", loaded_image[512] = "";
        symbols->lpVtbl->GetModuleByIndex(symbols, i, &base);
        memset(&params, 0, sizeof params);
        symbols->lpVtbl->GetModuleParameters(symbols, 1, &base, 0, &params);
        symbols->lpVtbl->GetModuleNames(symbols, i, 0, image, sizeof image, NULL, module, sizeof module, NULL,
                                        loaded_image, sizeof loaded_image, NULL);
        printf("%s{\"base\":%llu,\"size\":%lu,\"timestamp\":%lu", i ? "," : "", (unsigned long long)base,
               (unsigned long)params.Size, (unsigned long)params.TimeDateStamp);
        json_key_str("module", module);
        json_key_str("image", image);
        json_key_str("loaded_image", loaded_image);
        putchar('}');
    }
    putchar(']');
    json_end();
}

static void do_regs(void)
{
    ULONG64 ip = 0, sp = 0;
    json_begin("regs");
    HRESULT hr = registers->lpVtbl->GetInstructionOffset(registers, &ip);
    json_hr("ip_hr", hr);
    if (SUCCEEDED(hr))
        json_u64("ip", ip);
    hr = registers->lpVtbl->GetStackOffset(registers, &sp);
    json_hr("sp_hr", hr);
    if (SUCCEEDED(hr))
        json_u64("sp", sp);
    json_end();
}

static void do_exec(const char *cmd)
{
    HRESULT hr = control->lpVtbl->Execute(control, DEBUG_OUTCTL_THIS_CLIENT, cmd, DEBUG_EXECUTE_DEFAULT);
    json_begin("exec");
    json_key_str("cmd", cmd);
    json_hr("hr", hr);
    json_end();
}

static void do_close(void)
{
    HRESULT hr = client->lpVtbl->EndSession(client, DEBUG_END_ACTIVE_DETACH);
    json_begin("close");
    json_hr("hr", hr);
    json_end();
}

static void fail(const char *what, HRESULT hr)
{
    json_begin("fatal");
    json_key_str("what", what);
    json_hr("hr", hr);
    json_end();
    exit(1);
}

int main(int argc, char **argv)
{
    static char line[8192];
    char dll[MAX_PATH + 32];
    if (argc != 2) {
        fprintf(stderr, "usage: probe.exe DLLDIR < requests\n");
        return 2;
    }
    SetDllDirectoryA(argv[1]);
    snprintf(dll, sizeof dll, "%s\\dbgeng.dll", argv[1]);
    HMODULE engine = LoadLibraryExA(dll, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
    if (!engine)
        fail("LoadLibraryEx dbgeng.dll", HRESULT_FROM_WIN32(GetLastError()));
    DebugCreateFn create = (DebugCreateFn)(void *)GetProcAddress(engine, "DebugCreate");
    if (!create)
        fail("GetProcAddress DebugCreate", HRESULT_FROM_WIN32(GetLastError()));
    HRESULT hr = create(&IID_IDebugClient4, (void **)&client);
    if (FAILED(hr))
        fail("DebugCreate", hr);
    if (FAILED(hr = client->lpVtbl->QueryInterface(client, &IID_IDebugControl3, (void **)&control)))
        fail("IDebugControl3", hr);
    if (FAILED(hr = client->lpVtbl->QueryInterface(client, &IID_IDebugDataSpaces3, (void **)&data)))
        fail("IDebugDataSpaces3", hr);
    if (FAILED(hr = client->lpVtbl->QueryInterface(client, &IID_IDebugSymbols, (void **)&symbols)))
        fail("IDebugSymbols", hr);
    if (FAILED(hr = client->lpVtbl->QueryInterface(client, &IID_IDebugRegisters, (void **)&registers)))
        fail("IDebugRegisters", hr);
    client->lpVtbl->SetOutputCallbacks(client, (IDebugOutputCallbacks *)&sink);
    client->lpVtbl->SetOutputMask(client, DEBUG_OUTPUT_NORMAL | DEBUG_OUTPUT_ERROR | DEBUG_OUTPUT_WARNING |
                                              DEBUG_OUTPUT_EXTENSION_WARNING | DEBUG_OUTPUT_SYMBOLS);
    /* the banner and extension-DLL notices printed while creating the engine */
    json_begin("ready");
    json_end();

    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        char *arg = strchr(line, ' ');
        if (arg)
            *arg++ = 0;
        else
            arg = line + n;
        if (!strcmp(line, "open"))
            do_open(arg);
        else if (!strcmp(line, "tags"))
            do_tags(strcmp(arg, "nodata") != 0);
        else if (!strcmp(line, "readtag"))
            do_readtag(arg);
        else if (!strcmp(line, "read"))
            do_read(arg, 0);
        else if (!strcmp(line, "phys"))
            do_read(arg, 1);
        else if (!strcmp(line, "kdata"))
            do_kdata(arg);
        else if (!strcmp(line, "modules"))
            do_modules();
        else if (!strcmp(line, "regs"))
            do_regs();
        else if (!strcmp(line, "exec"))
            do_exec(arg);
        else if (!strcmp(line, "close"))
            do_close();
        else if (line[0]) {
            json_begin("error");
            json_key_str("unknown", line);
            json_end();
        }
    }
    fflush(stdout);
    /* dbgeng's teardown under Wine is not needed for a one-shot tool */
    ExitProcess(0);
}
