# shunt: build, test, bench, demo, install. Plain make; see README.md.
#   make            build/libshunt.so build/shuntd build/shunt (and the rest)
#   make test       everything CI runs (installs what it needs via make deps)
#   make test-rdma  rdma:// far memory in a QEMU guest on soft-RoCE (in make test too)
#   make SAN=asan   the same build with ASan+UBSan into build/asan
#   make SAN=tsan   with TSan into build/tsan (unit tests only)
CC      ?= gcc
PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?=

BUILD_ROOT := build
ifeq ($(SAN),)
BUILD := $(BUILD_ROOT)
SANFLAGS :=
else ifeq ($(SAN),asan)
BUILD := $(BUILD_ROOT)/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else ifeq ($(SAN),tsan)
BUILD := $(BUILD_ROOT)/tsan
SANFLAGS := -fsanitize=thread -fno-omit-frame-pointer
else ifeq ($(SAN),ubsan)
BUILD := $(BUILD_ROOT)/ubsan
SANFLAGS := -fsanitize=undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
$(error SAN must be asan, tsan or ubsan)
endif

WARN    := -Wall -Wextra -Werror -Wno-missing-field-initializers -Wno-nonnull-compare
# Target-injection safe build: indirect branches through retpoline thunks.
HARDEN  := -mindirect-branch=thunk -mfunction-return=keep -mindirect-branch-register
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=gnu17 $(CFLAGS) $(WARN) $(HARDEN) $(SANFLAGS) -fPIC -fvisibility=hidden -fno-delete-null-pointer-checks \
	-D_GNU_SOURCE -Iinclude -Iruntime -MMD -MP
LDLIBS  := -lpthread -ldl -lunwind

# Every runtime folder is one mechanism; files named *_main.c are programs.
RT_SRCS   := $(sort $(filter-out %_main.c,$(wildcard runtime/*/*.c)))
PRE_SRCS  := $(sort $(wildcard preload/*.c))
RT_OBJS   := $(RT_SRCS:%.c=$(BUILD)/obj/%.o)
PRE_OBJS  := $(PRE_SRCS:%.c=$(BUILD)/obj/%.o)
RT_LIB    := $(BUILD)/libshunt_rt.a
# jemalloc, renamed and hidden inside libshunt.so (runtime/alloc/alloc.h).
JE_PIC    := /usr/lib/x86_64-linux-gnu/libjemalloc_pic.a
JE_LIB    := $(BUILD)/jemalloc/libjemalloc_shunt.a
RT_LINK   := -Wl,--start-group $(RT_LIB) $(JE_LIB) -Wl,--end-group -lm

PROGS := $(BUILD)/shuntd $(BUILD)/shunt
PROG_MAIN_shuntd := runtime/fsserver/shuntd_main.c
PROG_MAIN_shunt  := runtime/cli/shunt_main.c
ifneq ($(wildcard runtime/memd/memd_main.c),)
PROGS += $(BUILD)/shunt-memd
PROG_MAIN_shunt-memd := runtime/memd/memd_main.c
endif

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Under TSan, Criterion cannot set up its shared arena for the jump-switch
# tests (they map executable memfds and register rseq); those run in the
# plain and ASan builds, and their runtime was checked under TSan by hand.
TSAN_UNIT_EXCLUDE := test_jswitch test_jswitch_fork test_jswitch_stress test_jswitch_var
TSAN_UNIT_BINS := $(filter-out $(TSAN_UNIT_EXCLUDE:%=$(BUILD_ROOT)/tsan/tests/%),$(UNIT_BINS:$(BUILD)/%=$(BUILD_ROOT)/tsan/%))
HELPER_SRCS := $(sort $(wildcard tests/helpers/*.c))
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/%)

.PHONY: all deps test test-unit test-integration test-rdma test-san bench demo install clean
all: $(BUILD)/libshunt.so $(PROGS) $(HELPER_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(RT_LIB): $(RT_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Its public names renamed (no clash with our interposers) and its system
# calls pointed at raw ones: runtime/alloc/jemalloc.syms.
$(JE_LIB): $(JE_PIC) runtime/alloc/jemalloc.syms
	@mkdir -p $(dir $@)
	objcopy --redefine-syms=runtime/alloc/jemalloc.syms $(JE_PIC) $@

$(BUILD)/libshunt.so: $(PRE_OBJS) $(RT_LIB) $(JE_LIB)
	$(CC) $(ALL_CFLAGS) -shared -Wl,--gc-sections -Wl,-z,now -Wl,--exclude-libs,libjemalloc_shunt.a -o $@ $(PRE_OBJS) $(RT_LINK) $(LDLIBS)

$(BUILD)/shuntd: $(BUILD)/obj/runtime/fsserver/shuntd_main.o $(RT_LIB) $(JE_LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(RT_LINK) $(LDLIBS)
$(BUILD)/shunt: $(BUILD)/obj/runtime/cli/shunt_main.o $(RT_LIB) $(JE_LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(RT_LINK) $(LDLIBS)
$(BUILD)/shunt-memd: $(BUILD)/obj/runtime/memd/memd_main.o $(RT_LIB) $(JE_LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(RT_LINK) $(LDLIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(RT_LIB) $(JE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Wno-unused-parameter -o $@ $< $(RT_LINK) -lcriterion $(LDLIBS)
$(BUILD)/tests/%: tests/helpers/%.c $(RT_LIB) $(JE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(RT_LINK) $(LDLIBS)

# Debian packages the build, the tests and the benchmarks use; installed
# only when missing.
DEB_PKGS := gcc make pkg-config libjemalloc-dev libunwind-dev libcriterion-dev rdma-core libibverbs-dev \
	librdmacm-dev ibverbs-providers qemu-system-x86 busybox-static cpio iproute2 libfuse3-dev fuse3 liburing-dev gnuplot-nox \
	sqlite3 python3 strace xz-utils coreutils findutils grep tar gzip bindfs time
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: deps
	$(MAKE) all
	$(MAKE) $(UNIT_BINS)
	$(MAKE) SAN=asan all $(UNIT_BINS:$(BUILD)/%=$(BUILD_ROOT)/asan/%)
	$(MAKE) SAN=tsan $(TSAN_UNIT_BINS)
	tests/run-all.sh $(BUILD_ROOT)

test-unit: all $(UNIT_BINS)
	tests/run-all.sh $(BUILD_ROOT) unit

test-integration: all
	tests/run-all.sh $(BUILD_ROOT) integration

# rdma:// for real: a QEMU guest with soft-RoCE (tests/rdma/guest.sh; the
# kernel is downloaded once into /var/cache/shunt-rdma). Part of make test.
test-rdma: deps all
	SHUNT_BUILD=$(abspath $(BUILD)) bash tests/integration/far_rdma.sh

bench: deps all
	bench/run-all.sh $(BUILD_ROOT)

demo: deps all
	tests/demo.sh $(BUILD_ROOT)

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include/shunt \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(BUILD)/libshunt.so $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 include/shunt/*.h $(DESTDIR)$(PREFIX)/include/shunt/
	sed -e 's|@PREFIX@|$(PREFIX)|g' shunt.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/shunt.pc

clean:
	rm -rf $(BUILD_ROOT)

-include $(shell find $(BUILD_ROOT) -name '*.d' 2>/dev/null)
