"""The telemetry service's record, as its C header declares it (used by service-dies-orphan.json):

    typedef enum { Heartbeat = 1, Warning = 2, Failure = 3 } SERVICE_EVENT_CODE;
    #pragma pack(push, 1)
    typedef struct { ULONG64 Time; ULONG ProcessId; SERVICE_EVENT_CODE Code; ULONG Status;
                     CHAR Detail[44]; } SERVICE_EVENT;          // 64 bytes
    #pragma pack(pop)
"""
from construct import Enum, Int32ul, Int64ul, PaddedString, Struct

SERVICE_EVENT = Struct(
    "Time" / Int64ul,
    "ProcessId" / Int32ul,
    "Code" / Enum(Int32ul, Heartbeat=1, Warning=2, Failure=3),
    "Status" / Int32ul,
    "Detail" / PaddedString(44, "ascii"),
)
