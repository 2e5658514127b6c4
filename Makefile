# SPDX-License-Identifier: BSD-3-Clause
# cupule: "make" builds every program into build/bin/, "make check" runs
# the whole test suite (it installs what is missing first), "make demo"
# boots a Linux guest to a shell.

CC	?= gcc
BUILD	?= build
WARN	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wcast-qual
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 -D_GNU_SOURCE $(WARN) -MMD -MP -Ihypervisor -Iipc \
	   -Imediators/virtio -Imediators/blk -Imediators/runtime -Imediators/net
ifeq ($(SAN),1)
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=address,undefined
endif
PKGS	:= libconfig json-c
LIBS	= $(shell pkg-config --libs $(PKGS)) -lpthread -lutil
CHECK_LIBS = $(shell pkg-config --libs check)

HV_SRCS	:= $(filter-out hypervisor/main.c,$(wildcard hypervisor/*.c))
HV_OBJS	:= $(HV_SRCS:%.c=$(BUILD)/obj/%.o)
HV_LIB	:= $(BUILD)/lib/libcupule-hv.a
IPC_SRCS := $(wildcard ipc/*.c)
IPC_OBJS := $(IPC_SRCS:%.c=$(BUILD)/obj/%.o)
IPC_LIB	:= $(BUILD)/lib/libcupule-ipc.a
VIRTIO_SRCS := $(wildcard mediators/virtio/*.c)
VIRTIO_OBJS := $(VIRTIO_SRCS:%.c=$(BUILD)/obj/%.o)
VIRTIO_LIB := $(BUILD)/lib/libcupule-virtio.a
BLK_SRCS := $(filter-out mediators/blk/main.c,$(wildcard mediators/blk/*.c))
BLK_OBJS := $(BLK_SRCS:%.c=$(BUILD)/obj/%.o)
BLK_LIB	:= $(BUILD)/lib/libcupule-blk.a
# datapath.c is cupule-net's own (a live device, libevent): not in the
# library the unit tests and fuzz targets link.
NET_SRCS := $(filter-out mediators/net/main.c mediators/net/datapath.c mediators/net/switch_main.c,$(wildcard mediators/net/*.c))
NET_OBJS := $(NET_SRCS:%.c=$(BUILD)/obj/%.o)
NET_LIB	:= $(BUILD)/lib/libcupule-net.a
URING_LIBS = $(shell pkg-config --libs liburing)
RT_SRCS	:= $(wildcard mediators/runtime/*.c)
RT_OBJS	:= $(RT_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/policies.o
RT_LIB	:= $(BUILD)/lib/libcupule-rt.a
EVENT_LIBS = $(shell pkg-config --libs libevent)
# The sandbox (mediators/runtime/sandbox.c, policy.c): every mediator.
SANDBOX_LIBS = $(shell pkg-config --libs libseccomp libconfig)

UNIT_SRCS := $(wildcard tests/unit/check_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
KVM_GUESTS := $(wildcard tests/kvm/guests/*.S)
KVM_BLOBS := $(KVM_GUESTS:tests/kvm/guests/%.S=$(BUILD)/tests/guests/%.bin)
KVM_BINS := $(BUILD)/tests/check_kvm $(BUILD)/tests/check_supervise

PROGS	:= $(BUILD)/bin/cupule $(BUILD)/bin/cupule-blk
PROGS	+= $(BUILD)/bin/cupule-switch
PROGS	+= $(BUILD)/bin/cupule-net
PROGS	+= $(BUILD)/bin/cupulectl
CTL_SRCS := $(wildcard hypervisor/cupulectl/*.c)
CTL_OBJS := $(CTL_SRCS:%.c=$(BUILD)/obj/%.o)

.PHONY: all tests check check-unit check-kvm check-san check-e2e check-blk check-net check-restart demo bench clean deps
all: $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(HV_LIB): $(HV_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(IPC_LIB): $(IPC_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(VIRTIO_LIB): $(VIRTIO_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BLK_LIB): $(BLK_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(NET_LIB): $(NET_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(RT_LIB): $(RT_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/cupule: $(BUILD)/obj/hypervisor/main.o $(HV_LIB) $(VIRTIO_LIB) $(IPC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# Mediators: one program each, on the runtime, virtio and ipc libraries.
# log.o: every process logs the same way.
$(BUILD)/bin/cupule-blk: $(BUILD)/obj/mediators/blk/main.o $(BLK_LIB) $(RT_LIB) $(VIRTIO_LIB) $(IPC_LIB) $(BUILD)/obj/hypervisor/log.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(URING_LIBS) $(SANDBOX_LIBS)

$(BUILD)/bin/cupule-net: $(BUILD)/obj/mediators/net/main.o $(BUILD)/obj/mediators/net/datapath.o $(NET_LIB) $(RT_LIB) $(VIRTIO_LIB) $(IPC_LIB) $(BUILD)/obj/hypervisor/log.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(SANDBOX_LIBS)

$(BUILD)/tests/check_%: $(BUILD)/obj/tests/unit/check_%.o $(BLK_LIB) $(NET_LIB) $(VIRTIO_LIB) $(HV_LIB) $(IPC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(URING_LIBS) $(CHECK_LIBS)

# Tiny test guests: 16-bit code assembled to flat binaries at 0x1000.
$(BUILD)/tests/guests/%.bin: tests/kvm/guests/%.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -o $(@:.bin=.o) $<
	ld -m elf_i386 -Ttext=0x1000 -e 0x1000 -o $(@:.bin=.elf) $(@:.bin=.o)
	objcopy -O binary -j .text $(@:.bin=.elf) $@

$(BUILD)/tests/check_kvm: $(BUILD)/obj/tests/kvm/check_kvm.o $(HV_LIB) $(KVM_BLOBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/obj/tests/kvm/check_kvm.o $(HV_LIB) $(IPC_LIB) $(LIBS) $(CHECK_LIBS)

# cupulectl: the control socket's client, and the audit (which reads the
# same policy files the sandbox is built from, from the runtime library).
$(BUILD)/bin/cupulectl: $(CTL_OBJS) $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SANDBOX_LIBS) $(shell pkg-config --libs json-c)

# A real cupule-blk under a VM on /dev/kvm: the supervisor at work.
$(BUILD)/tests/check_supervise: $(BUILD)/obj/tests/kvm/check_supervise.o $(HV_LIB) $(VIRTIO_LIB) $(IPC_LIB) | $(BUILD)/bin/cupule-blk
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/obj/tests/kvm/check_supervise.o $(HV_LIB) $(VIRTIO_LIB) $(IPC_LIB) $(LIBS) $(CHECK_LIBS)

tests: all $(UNIT_BINS) $(KVM_BINS)

deps:
	tests/testbed/deps.sh

# The whole suite: unit, KVM with tiny guests, sanitizer build, end to end.
check: deps
	$(MAKE) tests
	$(MAKE) SAN=1 BUILD=build/san tests
	tests/run.sh

check-unit: tests
	tests/run.sh unit
check-kvm: tests
	tests/run.sh kvm
check-san:
	$(MAKE) SAN=1 BUILD=build/san tests
	tests/run.sh san
check-e2e: all
	tests/run.sh e2e

# Each end-to-end script alone (all of them are in check-e2e).
check-blk: all
	tests/run.sh e2e-blk
check-net: all
	tests/run.sh e2e-net
# 100+ SIGKILLs of mediators under a guest's load, in the test host.
check-restart: all
	tests/run.sh e2e-restart

demo: deps
	$(MAKE) all
	tests/testbed/demo.sh

bench: all
	bench/boot/run.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- ipc: ring benchmark and fuzz targets ---------------------------------
# bench-ring measures the ioreq ring round trip (bench/ring/run.sh).
# "make fuzz" builds the libFuzzer targets in tests/fuzz/ with clang;
# tests/fuzz/run.sh builds and runs them for a bounded time.
FUZZ_CC		?= clang
FUZZ_FLAGS	:= -g -O1 -std=gnu11 -D_GNU_SOURCE $(WARN) -Iipc \
		   -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_SRCS	:= $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS	:= $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)

.PHONY: fuzz
fuzz: $(FUZZ_BINS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(IPC_SRCS) $(wildcard ipc/*.h)
	@mkdir -p $(dir $@)
	@command -v $(FUZZ_CC) >/dev/null || \
		{ echo "fuzz: $(FUZZ_CC) not found (apt-get install clang)"; exit 1; }
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(IPC_SRCS)

# A mediator killed again and again under a VM: the stall a vCPU sees.
$(BUILD)/bin/bench-restart: $(BUILD)/obj/bench/restart/bench_restart.o $(HV_LIB) $(VIRTIO_LIB) $(IPC_LIB) | $(BUILD)/bin/cupule-blk
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/obj/bench/restart/bench_restart.o $(HV_LIB) $(VIRTIO_LIB) $(IPC_LIB) $(LIBS)

$(BUILD)/bin/bench-ring: $(BUILD)/obj/bench/ring/bench_ring.o $(IPC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# The control socket's request handling: control.c with json-c, the
# supervision names and the control channel's names; no VM, no device.
$(BUILD)/fuzz/fuzz_control: tests/fuzz/fuzz_control.c hypervisor/control.c \
		hypervisor/medsup.c hypervisor/log.c $(IPC_SRCS) $(wildcard hypervisor/*.h)
	@mkdir -p $(dir $@)
	@command -v $(FUZZ_CC) >/dev/null || \
		{ echo "fuzz: $(FUZZ_CC) not found (apt-get install clang)"; exit 1; }
	$(FUZZ_CC) $(FUZZ_FLAGS) -Ihypervisor -Imediators/virtio -Imediators/runtime \
		-o $@ $< hypervisor/control.c hypervisor/medsup.c \
		hypervisor/log.c $(IPC_SRCS) $(shell pkg-config --libs json-c)

# The virtqueue fuzz target needs the virtqueue code, not the ring.
$(BUILD)/fuzz/fuzz_virtqueue: tests/fuzz/fuzz_virtqueue.c mediators/virtio/virtqueue.c \
		mediators/virtio/gmem.c $(wildcard mediators/virtio/*.h)
	@mkdir -p $(dir $@)
	@command -v $(FUZZ_CC) >/dev/null || \
		{ echo "fuzz: $(FUZZ_CC) not found (apt-get install clang)"; exit 1; }
	$(FUZZ_CC) $(FUZZ_FLAGS) -Imediators/virtio -o $@ $< \
		mediators/virtio/virtqueue.c mediators/virtio/gmem.c

# ---- blk: fuzz target and I/O engine benchmark ----------------------------
# fuzz_blk runs blk_parse()/blk_exec() on chains made of arbitrary bytes;
# new inputs go to the first folder, the seeds stay as they are:
#   make build/fuzz/fuzz_blk && mkdir -p build/fuzz/corpus-blk
#   build/fuzz/fuzz_blk -max_total_time=60 build/fuzz/corpus-blk tests/fuzz/corpus/blk
# bench-blk measures 4k random reads at queue depth 1 and 32 (docs/blk.md).
BLK_FUZZ_SRCS := mediators/blk/blk.c mediators/blk/blk_io.c \
		 mediators/blk/blk_inflight.c mediators/virtio/virtqueue.c \
		 mediators/virtio/gmem.c

$(BUILD)/fuzz/fuzz_blk: tests/fuzz/fuzz_blk.c $(BLK_FUZZ_SRCS) \
		$(wildcard mediators/blk/*.h mediators/virtio/*.h)
	@mkdir -p $(dir $@)
	@command -v $(FUZZ_CC) >/dev/null || \
		{ echo "fuzz: $(FUZZ_CC) not found (apt-get install clang)"; exit 1; }
	$(FUZZ_CC) $(FUZZ_FLAGS) -Imediators/virtio -Imediators/blk -o $@ $< \
		$(BLK_FUZZ_SRCS) $(URING_LIBS)

$(BUILD)/bin/bench-blk: $(BUILD)/obj/bench/blk/engine.o $(BLK_LIB) $(VIRTIO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(URING_LIBS) -lpthread

# ---- switch: cupule-switch and its unit test ------------------------------
# The switch needs only its own logic, log.o and libevent.  Its test links
# check_switch.o and switch.o alone (no library that may hold switch.o
# too), and runs the real binary for its socket cases, hence the
# order-only prerequisite.
SWITCH_OBJS := $(BUILD)/obj/mediators/net/switch.o

$(BUILD)/bin/cupule-switch: $(BUILD)/obj/mediators/net/switch_main.o $(SWITCH_OBJS) $(BUILD)/obj/hypervisor/log.o $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(EVENT_LIBS) $(SANDBOX_LIBS)

$(BUILD)/tests/check_switch: $(BUILD)/obj/tests/unit/check_switch.o $(SWITCH_OBJS) | $(BUILD)/bin/cupule-switch
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS)

# ---- the process tests' VM process -----------------------------------------
# check_blk_proc, check_net_proc and check_sandbox_proc play the VM
# process and the guest's driver of a real mediator with medtest.o
# (tests/unit/medtest.h), which starts it with sandbox_fork() from the
# runtime library.
MEDTEST_OBJ := $(BUILD)/obj/tests/unit/medtest.o

# ---- net: process test and fuzz target -------------------------------------
# check_net_proc runs the real cupule-net (found next to its own folder)
# as a VM process would, in the namespaces and with the uid the sandbox
# wants (sandbox_fork(), from the runtime library).
$(BUILD)/tests/check_net_proc: $(BUILD)/obj/tests/unit/check_net_proc.o $(MEDTEST_OBJ) $(NET_LIB) $(RT_LIB) $(VIRTIO_LIB) $(IPC_LIB) | $(BUILD)/bin/cupule-net
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SANDBOX_LIBS) $(CHECK_LIBS)

# ---- blk: process test -----------------------------------------------------
# check_blk_proc kills the real cupule-blk at every fault point and at
# random, and replaces it as the VM process would (cupule-net: only for
# its --fault refusal).
$(BUILD)/tests/check_blk_proc: $(BUILD)/obj/tests/unit/check_blk_proc.o $(MEDTEST_OBJ) $(BLK_LIB) $(NET_LIB) $(VIRTIO_LIB) $(HV_LIB) $(RT_LIB) $(IPC_LIB) | $(BUILD)/bin/cupule-blk $(BUILD)/bin/cupule-net
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(URING_LIBS) $(SANDBOX_LIBS) $(CHECK_LIBS)

# fuzz_net runs the tx checks, the rx fix-up and spreading over chains,
# the control commands and the restart records on arbitrary bytes; new
# inputs go to the first folder, the seeds stay as they are:
#   make build/fuzz/fuzz_net && mkdir -p /tmp/corpus-net
#   build/fuzz/fuzz_net -max_total_time=60 /tmp/corpus-net tests/fuzz/corpus/net
NET_FUZZ_SRCS := mediators/net/net.c mediators/virtio/virtqueue.c \
		 mediators/virtio/gmem.c

$(BUILD)/fuzz/fuzz_net: tests/fuzz/fuzz_net.c $(NET_FUZZ_SRCS) \
		$(wildcard mediators/net/net.h mediators/virtio/*.h)
	@mkdir -p $(dir $@)
	@command -v $(FUZZ_CC) >/dev/null || \
		{ echo "fuzz: $(FUZZ_CC) not found (apt-get install clang)"; exit 1; }
	$(FUZZ_CC) $(FUZZ_FLAGS) -Imediators/virtio -Imediators/net -o $@ $< \
		$(NET_FUZZ_SRCS)

# ---- sandbox: the policies and their tests ---------------------------------
# Each *.policy file is compiled into the runtime library from the one
# file in the repository, as a byte array in BUILD/gen/policies.c
# (policy_builtin[]); a mediator picks its own by program name.
# check_policy parses them all; check_sandbox applies one to a forked
# child; check_sandbox_proc runs the real mediators sandboxed.
POLICY_FILES := $(sort $(wildcard mediators/*/*.policy))

$(BUILD)/gen/policies.c: $(POLICY_FILES) Makefile
	@mkdir -p $(dir $@)
	{ echo '/* Generated from the *.policy files by the Makefile. */'; \
	  echo '#include "policy.h"'; \
	  n=0; for f in $(POLICY_FILES); do \
		echo "static const unsigned char p$$n[] = {"; \
		od -An -v -tx1 $$f | sed 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g'; \
		echo '0 };'; n=$$((n + 1)); \
	  done; \
	  echo 'const struct policy_src policy_builtin[] = {'; \
	  n=0; for f in $(POLICY_FILES); do \
		echo "	{ \"$$f\", (const char *)p$$n, sizeof(p$$n) - 1 },"; \
		n=$$((n + 1)); \
	  done; \
	  echo '	{ 0, 0, 0 }'; echo '};'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/policies.o: $(BUILD)/gen/policies.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/check_policy: $(BUILD)/obj/tests/unit/check_policy.o $(RT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SANDBOX_LIBS) $(CHECK_LIBS)

$(BUILD)/tests/check_sandbox: $(BUILD)/obj/tests/unit/check_sandbox.o $(RT_LIB) $(IPC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SANDBOX_LIBS) $(CHECK_LIBS)

$(BUILD)/tests/check_sandbox_proc: $(BUILD)/obj/tests/unit/check_sandbox_proc.o $(MEDTEST_OBJ) $(RT_LIB) $(VIRTIO_LIB) $(IPC_LIB) | $(BUILD)/bin/cupule-blk $(BUILD)/bin/cupule-net $(BUILD)/bin/cupule-switch
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(SANDBOX_LIBS) $(CHECK_LIBS)
