# SPDX-License-Identifier: BSD-3-Clause
# cupule: "make" builds every program into build/bin/, "make check" runs
# the whole test suite (it installs what is missing first), "make demo"
# boots a Linux guest to a shell.

CC	?= gcc
BUILD	?= build
WARN	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wpointer-arith -Wcast-qual
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 -D_GNU_SOURCE $(WARN) -MMD -MP -Ihypervisor
ifeq ($(SAN),1)
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=all
LDFLAGS	+= -fsanitize=address,undefined
endif
PKGS	:= libconfig
LIBS	= $(shell pkg-config --libs $(PKGS)) -lpthread -lutil
CHECK_LIBS = $(shell pkg-config --libs check)

HV_SRCS	:= $(filter-out hypervisor/main.c,$(wildcard hypervisor/*.c))
HV_OBJS	:= $(HV_SRCS:%.c=$(BUILD)/obj/%.o)
HV_LIB	:= $(BUILD)/lib/libcupule-hv.a

UNIT_SRCS := $(wildcard tests/unit/check_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
KVM_GUESTS := $(wildcard tests/kvm/guests/*.S)
KVM_BLOBS := $(KVM_GUESTS:tests/kvm/guests/%.S=$(BUILD)/tests/guests/%.bin)
KVM_BINS := $(BUILD)/tests/check_kvm

PROGS	:= $(BUILD)/bin/cupule

.PHONY: all tests check check-unit check-kvm check-san check-e2e demo bench clean deps
all: $(PROGS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(HV_LIB): $(HV_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/cupule: $(BUILD)/obj/hypervisor/main.o $(HV_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/check_%: $(BUILD)/obj/tests/unit/check_%.o $(HV_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(CHECK_LIBS)

# Tiny test guests: 16-bit code assembled to flat binaries at 0x1000.
$(BUILD)/tests/guests/%.bin: tests/kvm/guests/%.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -o $(@:.bin=.o) $<
	ld -m elf_i386 -Ttext=0x1000 -e 0x1000 -o $(@:.bin=.elf) $(@:.bin=.o)
	objcopy -O binary -j .text $(@:.bin=.elf) $@

$(BUILD)/tests/check_kvm: $(BUILD)/obj/tests/kvm/check_kvm.o $(HV_LIB) $(KVM_BLOBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/obj/tests/kvm/check_kvm.o $(HV_LIB) $(LIBS) $(CHECK_LIBS)

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

demo: deps
	$(MAKE) all
	tests/testbed/demo.sh

bench: all
	bench/boot/run.sh

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
