# fcc-guest start-up code: from the reset vector to the Rust entry point `fcc_kernel_main`.
#
# Everything here is one section, `.boot`, that the linker script places at BOOT_CODE_START
# (fcc-layout: the last 4 KiB of the ROM, ending at 4 GiB) with VMA = LMA, so every address is
# known at assembly time: `label - boot_start + {boot_base}` is the physical (and, under the
# identity map, virtual) address of `label`. Numbers in braces are `const` operands that
# `start.rs` takes from fcc-layout.
#
# One image serves every platform. The reset vector reads CR0 and tells
#   * 16-bit real mode (CR0.PE = 0): plain QEMU/KVM and the SEV-SNP boot vCPU, from
#   * 32-bit protected mode (CR0.PE = 1), paging off: TDX, where *every* vCPU starts here.
# Both paths meet at `start32` with the same register contract, build the page tables, enter
# 64-bit long mode, copy .data and zero .bss, and call Rust:
#
#     fcc_kernel_main(reset_tsc: u64 /* RDI */, boot_flags: u64 /* RSI */) -> !
#
# Boot flags (EBP until then): bit 0 = started in 32-bit protected mode (TDX), bit 1 = the page
# tables use NX (EFER.NXE set), bit 2 = SEV-SNP guest, bit 3 = a CPUID page claiming SEV was
# found but SEV_STATUS says no encryption (booted as plain), bits 15:8 = the C-bit position
# (SNP).
#
# SEV-SNP: no IDT exists here, so nothing that raises #VC (CPUID, port I/O, intercepted MSRs)
# may run before the reset path knows it is not an SEV-ES/SNP guest. It finds out without
# CPUID: the launch puts a firmware-checked CPUID page at SNP_CPUID_PAGE (fcc-layout; RAM that
# reads as zeros on every other platform, which never write it). Only if that page is well
# formed and its Fn8000_001F says SEV is SEV_STATUS read (that MSR is never intercepted, and is
# only known to exist when CPUID says SEV); SNP = its bits 0-2 all set. The C-bit comes from
# the same page (checked to lie in 32..=51) and is set in every page-table entry of the first
# GiB (RAM), of the ROM's page and of every non-leaf entry; 1..4 GiB otherwise stay shared
# (MMIO). A page with SEV_STATUS saying SEV or SEV-ES without SNP is refused (terminate / halt).
# SEV-ES without SNP has no CPUID page: its first CPUID raises #VC with no IDT and the vCPU shuts
# down — fail-closed, as this kernel does not support it. On any other platform the page is
# empty and the CPUID-based path below runs as before.
#
# Extra vCPUs: TDX application processors spin on PAUSE for ever (HLT would be a #VE with no
# IDT, and TDCALL needs 64-bit mode), each taking a host CPU; SEV-SNP ones spin at SNP_AP_ENTRY
# if woken. The kernel uses one vCPU: launch with one (docs/PLATFORMS.md).

.pushsection .boot, "ax"
boot_start:

# ----------------------------------------------------------------------------------------------
# 16-bit real-mode path (plain, SEV-SNP).
# In:  EDX:EAX = TSC read at the reset vector; ECX = CR0; CS.base = 0xFFFF0000 (IP = offset in
#      the last 64 KiB); DS/ES/SS base 0; IF = 0 (reset state).
# Out: to start32 with ESI = TSC low, EDI = TSC high, EBP = boot flags (0), CS = CODE32.
# ----------------------------------------------------------------------------------------------
.code16
real_mode_entry:
    cld
    mov esi, eax
    mov edi, edx
    xor ebp, ebp
    # lgdt cs:[gdt_descriptor], with the 32-bit base (operand-size prefix 66; CS override 2E;
    # 0F 01 /2 with a 16-bit displacement, i.e. the descriptor's offset in the CS segment).
    .byte 0x66, 0x2e, 0x0f, 0x01, 0x16
    .word gdt_descriptor - boot_start + {boot_offset_in_cs}
    mov eax, cr0
    and eax, 0x9fffffff                 # clear CD and NW: caches on
    or eax, 0x23                        # PE, MP, NE
    mov cr0, eax
    # Far jump into 32-bit protected mode (66 EA ptr16:32).
    .byte 0x66, 0xea
    .long start32 - boot_start + {boot_base}
    .word {code32_selector}

# ----------------------------------------------------------------------------------------------
# 32-bit protected-mode path (TDX), continued from PROTECTED_MODE_ENTRY.
# In:  EDX:EAX = TSC read at the reset vector; ECX = CR0; flat 32-bit segments from the TDX
#      module; paging off; EBX = GPA width and ESI = VCPU_INDEX from the TDX module
#      (TDH.VP.INIT: unique per vCPU, 0 for the first; OVMF picks its BSP the same way). Every
#      vCPU of a TD starts here: all but VCPU_INDEX 0 are parked before they write a byte of
#      memory. (CPUID.1:EBX[31:24] is only 8 bits of an id the host may choose: two vCPUs could
#      both read 0.) TDG.VP.INFO checks the index again in Rust.
# Out: to start32, same contract as the real-mode path, with EBP bit 0 set.
# ----------------------------------------------------------------------------------------------
.code32
protected_mode_continue:
    cld
    test esi, esi
    jnz park_application_processor
    mov esi, eax
    mov edi, edx
    mov ebp, {flag_protected_mode}
    # lgdt [gdt_descriptor] (0F 01 /2, 32-bit absolute displacement).
    .byte 0x0f, 0x01, 0x15
    .long gdt_descriptor - boot_start + {boot_base}
    .byte 0xea                          # far jump (EA ptr16:32) to reload CS from our GDT
    .long start32 - boot_start + {boot_base}
    .word {code32_selector}

# ----------------------------------------------------------------------------------------------
# Common 32-bit code.
# In:  ESI = TSC low, EDI = TSC high, EBP = boot flags, CS = CODE32 of the boot GDT.
# ----------------------------------------------------------------------------------------------
start32:
    mov eax, {data_selector}
    mov ds, eax
    mov es, eax
    mov ss, eax
    mov fs, eax
    mov gs, eax

    # Only the boot vCPU gets here. In real mode only it can (plain: the others wait for a SIPI;
    # SEV-SNP: only the BSP starts at the reset vector with the measured VMSA, the others at the
    # SEV-ES reset block's address); under TDX the others were parked by VCPU_INDEX above.
    # The boot stack, and the three values the 64-bit code hands to Rust.
    mov esp, {boot_stack_top}
    push edi                            # [top - 4]: TSC high
    push esi                            # [top - 8]: TSC low
    push ebp                            # [top - 12]: boot flags
    push 0                              # [top - 16]: C-bit mask in the high dword (SNP), else 0

    # EBX = high dword of every data leaf entry: bit 63 (XD/NX) or 0.
    xor ebx, ebx
    test ebp, {flag_protected_mode}
    jz 3f
    # TDX: no SNP. The TDX module starts every vCPU with EFER = LME | NXE | SCE and lets the TD
    # change only SCE: NX is on, so data pages are mapped NX here too.
    mov ebx, 0x80000000
    or ebp, {flag_nx}
    mov dword ptr [{boot_stack_top} - 12], ebp
    jmp 2f
3:

    # SEV-SNP? (See the header: no CPUID before this answer.) ESI/EDI are free now (TSC saved).
    mov esi, {snp_cpuid_page}
    mov ecx, dword ptr [esi]            # entry count, 1..=64 in a real page
    dec ecx
    cmp ecx, {cpuid_page_max_entries}
    jae 8f
    inc ecx
    lea edi, [esi + {cpuid_page_header}]
10:
    cmp dword ptr [edi], 0x8000001f     # EAX_IN (ECX_IN is not used for this leaf)
    je 11f
    add edi, {cpuid_page_entry}
    loop 10b
    jmp 8f
11:
    test dword ptr [edi + 24], 2        # EAX bit 1: SEV
    jz 8f
    mov ecx, {msr_sev_status}
    rdmsr
    and eax, 7                          # SEV, SEV-ES, SNP
    jnz 13f
    # Not encrypted: a page left by someone else, and this is no SEV-ES or SNP guest, so CPUID
    # (an ordinary intercept, not a #VC) is safe from here on. Rust reports the page.
    or ebp, {flag_stale_cpuid_page}
    mov dword ptr [{boot_stack_top} - 12], ebp
    jmp 8f
13:
    cmp eax, 7
    jne sev_without_snp
    mov ecx, dword ptr [edi + 28]       # EBX[5:0]: the C-bit position
    and ecx, 0x3f
    cmp ecx, {cbit_min}
    jb snp_bad_cbit
    cmp ecx, {cbit_max}
    ja snp_bad_cbit
    mov eax, ecx
    shl eax, 8
    or ebp, eax
    or ebp, {flag_snp}
    sub ecx, 32
    mov eax, 1
    shl eax, cl
    mov dword ptr [{boot_stack_top} - 16], eax
    # Every CPU that runs SNP has NX; CPUID is not available here to ask.
    mov ebx, 0x80000000
    or ebp, {flag_nx}
    mov dword ptr [{boot_stack_top} - 12], ebp
    jmp 2f
8:
    # NX where the CPU has it (CPUID 8000_0001h EDX[20]); we own EFER here (not under TDX).
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb 2f
    mov eax, 0x80000001
    cpuid
    bt edx, 20
    jnc 2f
    mov ebx, 0x80000000
    or ebp, {flag_nx}
    mov dword ptr [{boot_stack_top} - 12], ebp
2:
    # Page tables (fcc-layout `page_tables`): zero them, then
    #   PML4[0]   -> PDPT_LOW,  PDPT_LOW[i]  -> PD[i] (i = 0..3): identity map of 0..4 GiB;
    #   PML4[511] -> PDPT_HIGH, PDPT_HIGH[510, 511] -> PD[2], PD[3]: the top 2 GiB of the address
    #                space alias physical 2..4 GiB (the ROM, where the kernel is linked);
    #   PD[*]: 2 MiB pages, read-write, NX; except PD[0][0] -> PT_LOW (4 KiB pages for the first
    #          2 MiB, so the null page and the stack guards can be left out) and PD[3][511] (the
    #          ROM's 2 MiB page): read-only and executable.
    # SEV-SNP: the C-bit (mask at [top - 16], 0 elsewhere) in the high dword of every non-leaf
    # entry, of the first GiB's entries (RAM: private) and of the ROM's page.
    mov edi, {pml4}
    mov ecx, {page_tables_bytes} / 4
    xor eax, eax
    rep stosd

    mov dword ptr [{pml4}], {pdpt_low} + 3
    mov dword ptr [{pml4} + 511 * 8], {pdpt_high} + 3
    mov dword ptr [{pdpt_low} + 0 * 8], {pd} + 0 * 4096 + 3
    mov dword ptr [{pdpt_low} + 1 * 8], {pd} + 1 * 4096 + 3
    mov dword ptr [{pdpt_low} + 2 * 8], {pd} + 2 * 4096 + 3
    mov dword ptr [{pdpt_low} + 3 * 8], {pd} + 3 * 4096 + 3
    mov dword ptr [{pdpt_high} + 510 * 8], {pd} + 2 * 4096 + 3
    mov dword ptr [{pdpt_high} + 511 * 8], {pd} + 3 * 4096 + 3

    mov edx, dword ptr [{boot_stack_top} - 16]
    mov dword ptr [{pml4} + 4], edx
    mov dword ptr [{pml4} + 511 * 8 + 4], edx
    mov dword ptr [{pdpt_low} + 0 * 8 + 4], edx
    mov dword ptr [{pdpt_low} + 1 * 8 + 4], edx
    mov dword ptr [{pdpt_low} + 2 * 8 + 4], edx
    mov dword ptr [{pdpt_low} + 3 * 8 + 4], edx
    mov dword ptr [{pdpt_high} + 510 * 8 + 4], edx
    mov dword ptr [{pdpt_high} + 511 * 8 + 4], edx
    mov esi, edx
    or esi, ebx                         # ESI = high dword of private data entries: C-bit, NX

    mov edi, {pd}
    xor eax, eax                        # physical address of the page
    mov ecx, 512                        # the first GiB: RAM, private
3:
    lea edx, [eax + 0x83]               # present, writable, 2 MiB page
    mov dword ptr [edi], edx
    mov dword ptr [edi + 4], esi
    add eax, 0x200000
    add edi, 8
    loop 3b
    mov ecx, 3 * 512                    # 1..4 GiB: MMIO (shared); the ROM's page follows
7:
    lea edx, [eax + 0x83]
    mov dword ptr [edi], edx
    mov dword ptr [edi + 4], ebx
    add eax, 0x200000
    add edi, 8
    loop 7b
    mov edx, dword ptr [{boot_stack_top} - 16]
    mov dword ptr [{pd}], {pt_low} + 3
    mov dword ptr [{pd} + 4], edx
    mov dword ptr [{pd} + 3 * 4096 + 511 * 8], 0xffe00000 + 0x81    # present, 2 MiB, read-only
    mov dword ptr [{pd} + 3 * 4096 + 511 * 8 + 4], edx               # executable; C-bit

    mov edi, {pt_low}
    mov eax, 3                          # physical 0, present, writable
    mov ecx, 512
4:
    mov dword ptr [edi], eax
    mov dword ptr [edi + 4], esi
    add eax, 0x1000
    add edi, 8
    loop 4b
    # Guard pages: not present.
    mov dword ptr [{pt_low} + ({guard0} >> 12) * 8], 0
    mov dword ptr [{pt_low} + ({guard1} >> 12) * 8], 0
    mov dword ptr [{pt_low} + ({guard2} >> 12) * 8], 0
    mov dword ptr [{pt_low} + ({guard3} >> 12) * 8], 0
    mov dword ptr [{pt_low} + ({guard4} >> 12) * 8], 0
    mov dword ptr [{pt_low} + ({guard5} >> 12) * 8], 0

    # Long mode: CR3, CR4.PAE (OR-ed in: TDX requires CR4.MCE to stay set), EFER.LME (+NXE),
    # then CR0.PG and CR0.WP.
    mov eax, {pml4}
    mov cr3, eax
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    test ebp, {flag_protected_mode}
    jnz 6f                              # TDX: EFER.LME is already set by the TDX module
    mov ecx, 0xc0000080
    rdmsr
    or eax, 0x100                       # LME
    test ebp, {flag_nx}
    jz 5f
    or eax, 0x800                       # NXE
5:
    wrmsr
6:
    mov eax, cr0
    or eax, 0x80010000
    mov cr0, eax
    .byte 0xea                          # far jump (EA ptr16:32) into 64-bit mode
    .long start64 - boot_start + {boot_base}
    .word {code64_selector}

# SEV or SEV-ES without SNP (EAX = SEV_STATUS bits 2:0): not supported. Under SEV-ES ask the
# hypervisor to end the guest (GHCB MSR protocol: the GHCB MSR is never intercepted, VMGEXIT is
# an automatic exit), then halt; under plain SEV just halt (HLT is an ordinary intercept).
sev_without_snp:
    test eax, 2
    jz 9f
    mov eax, {terminate_no_snp}
    jmp 12f
snp_bad_cbit:
    mov eax, {terminate_bad_cbit}
12:
    xor edx, edx
    mov ecx, {msr_ghcb}
    wrmsr
    .byte 0xf3, 0x0f, 0x01, 0xd9        # VMGEXIT (REP VMMCALL)
9:
    hlt
    jmp 9b

# A parked vCPU (TDX application processors). It never touches memory and never enables
# interrupts. HLT would be a #VE under TDX (and with no IDT, a triple fault that kills the TD),
# so it spins with PAUSE.
park_application_processor:
    pause
    jmp park_application_processor

# ----------------------------------------------------------------------------------------------
# 64-bit long mode, still at the identity-mapped physical address.
# In:  the boot stack holds TSC high/low and the boot flags at top-4/-8/-12.
# ----------------------------------------------------------------------------------------------
.code64
start64:
    # .data: copy its load image from the ROM to RAM. .bss: zero it.
    movabs rsi, offset __data_load
    movabs rdi, offset __data_start
    movabs rcx, offset __data_end
    sub rcx, rdi
    rep movsb
    movabs rdi, offset __bss_start
    movabs rcx, offset __bss_end
    sub rcx, rdi
    xor eax, eax
    rep stosb

    mov eax, dword ptr [{boot_stack_top} - 8]
    mov edx, dword ptr [{boot_stack_top} - 4]
    shl rdx, 32
    or rax, rdx
    mov rdi, rax                        # reset_tsc
    mov esi, dword ptr [{boot_stack_top} - 12]  # boot_flags (with the C-bit position)
    mov rsp, {boot_stack_top}
    xor ebp, ebp                        # end of the frame-pointer chain
    movabs rax, offset fcc_kernel_main  # in the ROM's high alias
    call rax
    ud2

# The boot GDT (in ROM: every descriptor has its accessed bit preset, so the CPU never writes to
# it). Rust replaces it with one that has a TSS.
.balign 8
gdt:
    .quad 0                             # null
    .quad 0x00cf9b000000ffff            # CODE32: base 0, 4 GiB, 32-bit, execute/read
    .quad 0x00cf93000000ffff            # DATA: base 0, 4 GiB, read/write
    .quad 0x00af9b000000ffff            # CODE64: long mode
gdt_end:
gdt_descriptor:
    .word gdt_end - gdt - 1
    .long gdt - boot_start + {boot_base}
boot_code_end:

# ----------------------------------------------------------------------------------------------
# SNP_AP_ENTRY (fcc-layout): SEV-SNP application processors start here in real mode (the SEV-ES
# reset block of the GUID tables names this address: CS base 0xFFFF0000, IP = its low 16 bits).
# Until the SNP runtime brings them up, they park without touching memory.
# ----------------------------------------------------------------------------------------------
.org {snp_ap_entry_offset}, 0xff
.code16
snp_ap_entry:
    cli
1:
    pause
    jmp 1b

# ----------------------------------------------------------------------------------------------
# GUID tables (fcc-layout GUID_TABLE, guid_tables): ROM fill here; the image builder writes the
# SEV metadata, TDVF descriptor and the OVMF footer table (footer GUID at 4G - 0x30) over it.
# ----------------------------------------------------------------------------------------------
.org {guid_table_offset}, 0xff

# ----------------------------------------------------------------------------------------------
# PROTECTED_MODE_ENTRY (4G - 0x20): 32-bit code, reached from the reset vector when CR0.PE = 1.
# ----------------------------------------------------------------------------------------------
.org {protected_mode_entry_offset}, 0xff
.code32
protected_mode_entry:
    jmp protected_mode_continue

# ----------------------------------------------------------------------------------------------
# RESET_VECTOR (0xFFFF_FFF0). The first five instructions decode identically in 16-bit and
# 32-bit mode (RDTSC 0F 31; MOV ECX,CR0 0F 20 C1; TEST CL,1 F6 C1 01; JNZ rel8 75 xx), so one
# image serves both start modes. Only real mode falls through to the 16-bit near jump.
# Out: EDX:EAX = TSC at reset, ECX = CR0.
# ----------------------------------------------------------------------------------------------
.org {reset_vector_offset}, 0xff
.code16
.global reset_vector
reset_vector:
    rdtsc
    mov ecx, cr0
    test cl, 1
    jnz protected_mode_entry
    jmp real_mode_entry
.org {boot_page_size}, 0xff

.code64
.popsection
