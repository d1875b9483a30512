"""Kernel modules that ship with Windows, by the name dbgeng gives them (nt/loaded_modules.module_name,
lower case).

Used only to decide which modules are worth asking a symbol server about when dmfkd looks for a DMF
driver on its own: a real dump lists a hundred or more modules, nearly all of them Windows' own, and
none of those is built with DMF. The list is a heuristic, not a verdict - a module missing from it
costs at most one symbol-server question, and `--driver NAME` asks for any module by name. Names come
from the module lists of the Windows 10/11 x64 and ARM64 dumps in tests/data and Windows' own inbox
driver set.
"""

WINDOWS_MODULES = frozenset("""
nt hal kd kdcom kdnet kdstub kd_02_8086 kd_02_10ec kd_02_14e4 kdnet_uart16550 bootvid pshed clfs tm ci cng
ksecdd ksecpkg msrpc clipsp cmimcext werkernel ntosext fltmgr wdf01000 wdfldr wpprecorder sleepstudyhelper
acpiex acpi acpipagr acpitime wmilib wmiacpi intelpep intelppm amdppm processr fxppm pep pcw pci pcip
msisadrv isapnp vdrvroot pdc cea partmgr spaceport volmgr volmgrx mountmgr storahci storport stornvme storufs
storvsp storflt stornvme ehstorclass fileinfo wof wdfilter wdnisdrv wdboot ntfs refs refsv1 exfat fastfat
cdfs udfs fs_rec npfs msfs cimfs null beep mssecflt sgrmagent lxss lxcore windowstrustedrt
windowstrustedrtproxy ndis netio tcpip tcpipreg fwpkclnt wfplwfs tdx tdi ws2ifsl netbt afunix afd pacer
ndiscap netbios nsiproxy npsvctrig vwififlt vwifibus vwifimp vfpext vmsproxy vmsproxyhnic vmbkmclr vmbusr
vmbus vmbkmcl hvsocket vid winhvr winhv vpcivsp netvsc storvsc vmstorfl hyperkbd hypervideo fvevol volume
volsnap rdyboost mup iorate disk classpnp crashdmp dump_dumpstorport dump_stornvme dump_dumpfve dump_storahci
dump_storufs dump_diskdump cdrom filecrypt tbs tpm dxgkrnl dxgmms1 dxgmms2 watchdog basicdisplay basicrender
rdbss csc mssmbios gpuenergydrv dfsc bam dam ahcache compositebus kdnic umbus usbxhci ucx01000 usbhub3
usbport usbehci usbohci usbuhci usbhub usbccgp usbd usbstor uaspstor hidusb hdaudbus hdaudio portcls drmk
ks ksthunk ucmcx ucmucsicx ucmucsiacpiclient serial serenum msgpioclx msgpiowin32 uefi ndisvirtualbus
swenum rdpbus rdpdr rdpvideominiport kmpdc cad sdbus sdstor spbcx mshidkmdf mshidumdf hidclass hidparse
hidi2c hidinterrupt hidspi kbdhid kbdclass mouhid mouclass i8042prt mtconfig buttonconverter vhf battc
cmbatt monitor win32k win32kbase win32kfull luafv wcifs cldflt storqosflt bindflt lltdio mslldp rspndr
wanarp nwifi ndisuio msquic http bowser mpsdrv mrxsmb mrxsmb10 mrxsmb20 srvnet srv2 wudfrd wudfpf bthmini
bthport bthusb bthenum bthpan rfcomm bthleenum microsoft_bluetooth_legacy_leenumerator microsoft_bluetooth_avrcptransport
ndu mmcss peauth rassstp ndproxy agilevpn rasl2tp raspptp raspppoe rasagilevpn tsusbhub ndiswan condrv
terminpt hwpolicy wdiwifi netadaptercx winnat wfpcapture wpdupfltr wmiacpi acpidev gpiokmdfclx
""".split())


def is_windows_module(name: str) -> bool:
    """True for a module Windows ships (name as dbgeng gives it, any case)."""
    return name.lower() in WINDOWS_MODULES
