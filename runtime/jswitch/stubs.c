/* The fixed machine code every jump-switch site relies on: the retpoline on
 * r11, one cold entry per argument position (what a slot jumps to before the
 * runtime starts and with SHUNT_JSW=off), and the learning stub that records
 * a target in C and then takes the retpoline. Never patched, never moved.
 * Every site references this file, so it also holds the start-up hook. */
#include "jsw.h"

/* Slots start on a page of their own: the runtime replaces their pages with
 * its memfd copy, and the fewer other functions share them, the fewer show
 * up as memfd code in /proc/PID/maps and profilers. */
__asm__(".pushsection shunt_jsw_slots,\"ax\",@progbits\n\t.balign 4096\n\t.popsection");

/* Retpoline jump to r11 (the shape of gcc's __x86_indirect_thunk_r11): the
 * return predictor is aimed at the pause/lfence trap, so a poisoned branch
 * target buffer cannot steer speculation. */
__asm__(".text\n\t"
	".globl shunt_jsw_thunk_r11\n\t.hidden shunt_jsw_thunk_r11\n\t"
	".type shunt_jsw_thunk_r11,@function\n\t.balign 16\n"
	"shunt_jsw_thunk_r11:\n\t"
	"call 1f\n"
	"2:\tpause\n\tlfence\n\tjmp 2b\n"
	"1:\tmov %r11, (%rsp)\n\tret\n\t"
	".size shunt_jsw_thunk_r11, .-shunt_jsw_thunk_r11");

/* Cold entries: move the target (the trailing argument) into r11 and take
 * the retpoline. Slot entry leaves rsp at the return address, so a stack
 * argument is at 8(%rsp). */
#define JSW_COLD(n, mov)                                                            \
	__asm__(".text\n\t.globl shunt_jsw_cold_arg" #n "\n\t.hidden shunt_jsw_cold_arg" #n \
		"\n\t.type shunt_jsw_cold_arg" #n ",@function\n\t.balign 16\n"          \
		"shunt_jsw_cold_arg" #n ":\n\t" mov "\n\tjmp shunt_jsw_thunk_r11\n\t"   \
		".size shunt_jsw_cold_arg" #n ", .-shunt_jsw_cold_arg" #n);
JSW_COLD(0, "mov %rdi, %r11")
JSW_COLD(1, "mov %rsi, %r11")
JSW_COLD(2, "mov %rdx, %r11")
JSW_COLD(3, "mov %rcx, %r11")
JSW_COLD(4, "mov %r8, %r11")
JSW_COLD(5, "mov %r9, %r11")
JSW_COLD(6, "mov 8(%rsp), %r11")

/* Learning stub: entered by a jump from a slot's chain with r11 = site descriptor
 * and r10 = target. Saves every argument register, rax (a variadic call's
 * vector count) and xmm0-7 (a variable site has the target's own signature,
 * whatever it is), records, then takes the retpoline. Entry rsp is 8 mod 16;
 * nine pushes make it 0 mod 16, for the aligned spills and the call. */
__asm__(".text\n\t"
	".globl shunt_jsw_learn_stub\n\t.hidden shunt_jsw_learn_stub\n\t"
	".type shunt_jsw_learn_stub,@function\n\t.balign 16\n"
	"shunt_jsw_learn_stub:\n\t"
	".cfi_startproc\n\t"
	"push %rdi\n\t.cfi_adjust_cfa_offset 8\n\t"
	"push %rsi\n\t.cfi_adjust_cfa_offset 8\n\t"
	"push %rdx\n\t.cfi_adjust_cfa_offset 8\n\t"
	"push %rcx\n\t.cfi_adjust_cfa_offset 8\n\t"
	"push %r8\n\t.cfi_adjust_cfa_offset 8\n\t"
	"push %r9\n\t.cfi_adjust_cfa_offset 8\n\t"
	"push %rax\n\t.cfi_adjust_cfa_offset 8\n\t"
	"push %r10\n\t.cfi_adjust_cfa_offset 8\n\t"
	"push %r11\n\t.cfi_adjust_cfa_offset 8\n\t"
	"sub $128, %rsp\n\t.cfi_adjust_cfa_offset 128\n\t"
	"movaps %xmm0, 0(%rsp)\n\tmovaps %xmm1, 16(%rsp)\n\t"
	"movaps %xmm2, 32(%rsp)\n\tmovaps %xmm3, 48(%rsp)\n\t"
	"movaps %xmm4, 64(%rsp)\n\tmovaps %xmm5, 80(%rsp)\n\t"
	"movaps %xmm6, 96(%rsp)\n\tmovaps %xmm7, 112(%rsp)\n\t"
	"mov %r11, %rdi\n\t"
	"mov %r10, %rsi\n\t"
	"call jsw_learn_record\n\t"
	"movaps 0(%rsp), %xmm0\n\tmovaps 16(%rsp), %xmm1\n\t"
	"movaps 32(%rsp), %xmm2\n\tmovaps 48(%rsp), %xmm3\n\t"
	"movaps 64(%rsp), %xmm4\n\tmovaps 80(%rsp), %xmm5\n\t"
	"movaps 96(%rsp), %xmm6\n\tmovaps 112(%rsp), %xmm7\n\t"
	"add $128, %rsp\n\t.cfi_adjust_cfa_offset -128\n\t"
	"pop %r11\n\t.cfi_adjust_cfa_offset -8\n\t"
	"pop %r10\n\t.cfi_adjust_cfa_offset -8\n\t"
	"pop %rax\n\t.cfi_adjust_cfa_offset -8\n\t"
	"pop %r9\n\t.cfi_adjust_cfa_offset -8\n\t"
	"pop %r8\n\t.cfi_adjust_cfa_offset -8\n\t"
	"pop %rcx\n\t.cfi_adjust_cfa_offset -8\n\t"
	"pop %rdx\n\t.cfi_adjust_cfa_offset -8\n\t"
	"pop %rsi\n\t.cfi_adjust_cfa_offset -8\n\t"
	"pop %rdi\n\t.cfi_adjust_cfa_offset -8\n\t"
	"mov %r10, %r11\n\t"
	"jmp shunt_jsw_thunk_r11\n\t"
	".cfi_endproc\n\t"
	".size shunt_jsw_learn_stub, .-shunt_jsw_learn_stub");

/* Start from the configuration when the image loads (preload constructor
 * time). Only raw system calls until the worker thread exists; any site
 * called before this point takes its cold entry, which is correct. */
__attribute__((constructor)) static void jsw_ctor(void)
{
	jsw_start_from_config();
}
