/* Fatal-signal handler for faults inside the runtime (see crash.h). Runs in
 * signal context: raw writes, libunwind's local unwinder, no malloc. */
#define UNW_LOCAL_ONLY
#include "crash.h"
#include "log.h"
#include "sys.h"
#include "jswitch/jsw.h"

#include <libunwind.h>
#include <link.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

static uintptr_t text_lo, text_hi;
static struct sigaction old_act[32];
/* SIGTRAP: an int3 executed in libshunt is a jump switch gone wrong
 * (slots and copies are padded with int3). */
static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP };

struct find_arg {
	uintptr_t addr;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *p)
{
	(void)size;
	struct find_arg *a = p;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (a->addr >= lo && a->addr < hi) {
			text_lo = lo;
			text_hi = hi;
			return 1;
		}
	}
	return 0;
}

/* Walks the interrupted stack from the signal's context. Returns whether a
 * frame within the first few lies in libshunt; prints the frames if print. */
static int walk(ucontext_t *uc, int print)
{
	unw_cursor_t cur;
	char line[512], name[256];
	if (unw_init_local2(&cur, uc, UNW_INIT_SIGNAL_FRAME))
		return 0;
	int ours = 0;
	for (int depth = 0; depth < 64; depth++) {
		unw_word_t ip = 0, off = 0;
		unw_get_reg(&cur, UNW_REG_IP, &ip);
		int in = ip >= text_lo && ip < text_hi;
		if (in && depth < 8)
			ours = 1;
		if (print) {
			if (unw_get_proc_name(&cur, name, sizeof(name), &off))
				strcpy(name, "??");
			size_t n = log_format(line, sizeof(line), "  #%d %p %s+0x%lx%s\n", depth, (void *)ip, name,
					      (unsigned long)off, in ? "  [libshunt]" : "");
			sys_write(2, line, n);
		}
		if (unw_step(&cur) <= 0)
			break;
	}
	return ours;
}

static void on_fatal(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	int in_slots = 0;
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	/* An int3 traps after itself: report (and later re-run) the int3. */
	int int3 = sig == SIGTRAP && si->si_code == SI_KERNEL && pc > text_lo && pc <= text_hi &&
		   *(const unsigned char *)(pc - 1) == 0xcc;
	if (int3)
		pc--;
	/* Ours when the faulting code is libshunt's, or a libc routine it
	 * called (a memcpy into a bad buffer) a few frames down. */
	if ((pc >= text_lo && pc < text_hi) || walk(uc, 0)) {
		char line[1024];
		size_t n = log_format(line, sizeof(line), "shunt[%d/%d]: fatal signal %d (code %d, address %p) in libshunt's call path at %p%s\n",
				      (int)sys_getpid(), (int)sys_gettid(), sig, si->si_code, si->si_addr, (void *)pc,
				      int3 ? " (an int3)" : "");
		sys_write(2, line, n);
		in_slots = jsw_crash_report(2, pc);
		walk(uc, 1);
	}
	if (int3 && !in_slots)
		uc->uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
	/* Die, or let the program's own handler run, as without shunt. */
	sigaction(sig, &old_act[sig], NULL);
	/* In the slot pages the kernel has already moved the pc (rseq abort):
	 * returning would re-run the call with whatever the broken code left
	 * in the registers. */
	if (sig == SIGABRT || si->si_code <= 0 || in_slots || (sig == SIGTRAP && !int3))
		raise(sig);
	/* A synchronous fault re-executes the instruction (an int3 too: pc
	 * was moved back onto it) and takes the old action on return. */
}

void crash_init(const void *code_addr)
{
	struct find_arg a = { (uintptr_t)code_addr };
	dl_iterate_phdr(find_object, &a);
	if (!text_lo)
		return;
	static char altstack[32768];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	stack_t old;
	/* Only use an alternate stack when the program has none of its own. */
	int use_alt = sigaltstack(NULL, &old) == 0 && (old.ss_flags & SS_DISABLE) && sigaltstack(&ss, NULL) == 0;
	for (unsigned i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_fatal;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_RESETHAND | (use_alt ? SA_ONSTACK : 0);
		sigemptyset(&sa.sa_mask);
		sigaction(fatal[i], &sa, &old_act[fatal[i]]);
	}
}
