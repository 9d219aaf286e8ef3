# Entry stubs for all 256 interrupt vectors, and the common paths into Rust.
#
# Stub n is at exception_stubs + 16 * n (`interrupts.rs` points IDT entry n there). A stub pushes
# a zero error code where the CPU pushes none (so every frame has the same shape), then its
# vector, and jumps to exception_common, which saves the general-purpose registers and calls
#
#     fcc_exception(frame: &ExceptionFrame /* RDI */) -> !
#
# Frame, from the final RSP upwards: r15 r14 r13 r12 r11 r10 r9 r8 rbp rdi rsi rdx rcx rbx rax,
# vector, error code, then what the CPU pushed: RIP, CS, RFLAGS, RSP, SS (`frame.rs`).
# Nothing here returns: every exception is fatal (diagnostic on the console, then halt) —
# except SEV-SNP's #VC (vector 29) and TDX's #VE (vector 20, no error code), whose stubs go to
# resumable_common: same frame, then
#
#     fcc_resumable_exception(frame: &mut ExceptionFrame /* RDI */) -> bool /* AL */
#
# which performs the intercepted instruction and may change the general-purpose registers and
# RIP. True: the saved registers are restored from the frame and IRETQ resumes after the
# instruction. False (refused, reason printed): the frame goes to fcc_exception like any other.
# Both run on their own interrupt stack (IST4: a TD never sees #VC and an SNP guest never sees
# #VE); a nested one is refused by the platform's handler, never resumed.

# (interrupts.rs wraps this file in the section of the target's object format.)
.balign 16
.global exception_stubs
exception_stubs:

# A vector for which the CPU pushes no error code.
.macro STUB_NO_ERROR vector
    .org \vector * 16, 0xcc
    push 0
    push \vector
    jmp exception_common
.endm

# A vector for which the CPU pushes an error code (8, 10-14, 17, 21, 29, 30).
.macro STUB_ERROR vector
    .org \vector * 16, 0xcc
    push \vector
    jmp exception_common
.endm

    STUB_NO_ERROR 0
    STUB_NO_ERROR 1
    STUB_NO_ERROR 2
    STUB_NO_ERROR 3
    STUB_NO_ERROR 4
    STUB_NO_ERROR 5
    STUB_NO_ERROR 6
    STUB_NO_ERROR 7
    STUB_ERROR 8
    STUB_NO_ERROR 9
    STUB_ERROR 10
    STUB_ERROR 11
    STUB_ERROR 12
    STUB_ERROR 13
    STUB_ERROR 14
    STUB_NO_ERROR 15
    STUB_NO_ERROR 16
    STUB_ERROR 17
    STUB_NO_ERROR 18
    STUB_NO_ERROR 19
    .org 20 * 16, 0xcc                  # #VE: no error code; resumable
    push 0
    push 20
    jmp resumable_common
    STUB_ERROR 21
    STUB_NO_ERROR 22
    STUB_NO_ERROR 23
    STUB_NO_ERROR 24
    STUB_NO_ERROR 25
    STUB_NO_ERROR 26
    STUB_NO_ERROR 27
    STUB_NO_ERROR 28
    .org 29 * 16, 0xcc                  # #VC: error code = exit code; resumable
    push 29
    jmp resumable_common
    STUB_ERROR 30
    STUB_NO_ERROR 31
# Vectors 32-255: interrupts (never enabled yet) and software INTs; no error code.
.set stub_vector, 32
.rept 224
    STUB_NO_ERROR stub_vector
    .set stub_vector, stub_vector + 1
.endr
.org 256 * 16, 0xcc

# The general-purpose registers, in `ExceptionFrame` order (interrupts.rs).
.macro PUSH_GPRS
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
.endm

exception_common:
    PUSH_GPRS
    mov rdi, rsp
    and rsp, -16                        # the SysV ABI (extern "sysv64") wants RSP 16-byte aligned at the call
    cld
    call fcc_exception
    ud2

# The resumable path: save the registers, call fcc_resumable_exception(frame); resume with
# IRETQ if it returned true, else report the exception like any other.
resumable_common:
    PUSH_GPRS
    mov rdi, rsp
    mov rbx, rsp                        # callee-saved: the frame, to unwind after the call
    and rsp, -16
    cld
    call fcc_resumable_exception
    test al, al
    jz 1f
    mov rsp, rbx
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16                         # vector and error code
    iretq
1:
    mov rdi, rbx
    call fcc_exception                  # RSP is still 16-byte aligned
    ud2
