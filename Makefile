# sysnet — GNU Makefile.
#   make              build/libsysnet.a build/libsysnet.so build/sysnet build/sysnet.pc
#   make test         unit + namespace + peer tests and a fuzz smoke run, under ASan+UBSan
#   make demo         build/sysnet lab on its built-in defaults
#   make fuzz         every libFuzzer target for FUZZ_TIME seconds (default 60)
#   make bench        side-by-side benchmarks with their peers (bench/run.sh)
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make clean
# CC=gcc and CC=clang both build with -std=c11 -Wall -Wextra -Werror. Header
# dependencies are tracked (-MMD), so builds are incremental.

CC      ?= cc
FUZZCC  ?= clang
AR      ?= ar
BUILD   ?= build
PREFIX  ?= /usr/local
DESTDIR ?=
FUZZ_TIME ?= 60
FUZZ_SMOKE_TIME ?= 4

WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla
CPPFLAGS += -D_GNU_SOURCE -Iinclude
CFLAGS   ?= -O2 -g
DEPFLAGS  = -MMD -MP
SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
LDLIBS   += -lpthread

LIB_SRC   := $(sort $(wildcard src/*/*.c))
# Hand-written assembly (the coroutine context switch), one file per machine:
# src/<module>/*_<arch>.S, arch as `uname -m` or the compiler's target names it.
ARCH      ?= $(shell $(CC) -dumpmachine 2>/dev/null | cut -d- -f1)
LIB_ASM   := $(sort $(wildcard src/*/*_$(ARCH).S))
TOOL_SRC  := $(sort $(wildcard tools/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC  := $(sort $(wildcard fuzz/fuzz_*.c))
BENCH_SRC := $(sort $(wildcard bench/*/bench_*.c))

LIB_OBJ      := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(LIB_ASM:%.S=$(BUILD)/obj/%.o)
TOOL_OBJ     := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
ASAN_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/asan/obj/%.o) $(LIB_ASM:%.S=$(BUILD)/asan/obj/%.o)
TSAN_LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/tsan/obj/%.o) $(LIB_ASM:%.S=$(BUILD)/tsan/obj/%.o)
# The runtime's tests also run under ThreadSanitizer (build/tsan/test_*).
TSAN_TESTS    = $(filter $(BUILD)/asan/test_task $(BUILD)/asan/test_chan $(BUILD)/asan/test_reactor $(BUILD)/asan/test_coro,$(TEST_BIN))
TSAN_BIN      = $(TSAN_TESTS:$(BUILD)/asan/%=$(BUILD)/tsan/%)
ASAN_TOOL_OBJ:= $(TOOL_SRC:%.c=$(BUILD)/asan/obj/%.o)
TEST_BIN     := $(TEST_SRC:tests/unit/%.c=$(BUILD)/asan/%)
FUZZ_BIN     := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
BENCH_BIN    := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.SECONDARY:
.PHONY: all test demo fuzz fuzz-build bench install clean test-build
all: $(BUILD)/libsysnet.a $(BUILD)/libsysnet.so $(BUILD)/sysnet $(BUILD)/sysnet.pc

# ---- release build (objects are PIC so one set serves both libraries) ----
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) $(CFLAGS) -fPIC $(DEPFLAGS) -c $< -o $@

$(BUILD)/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -fPIC $(DEPFLAGS) -c $< -o $@

$(BUILD)/libsysnet.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/libsysnet.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libsysnet.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/sysnet: $(TOOL_OBJ) $(BUILD)/libsysnet.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libsysnet.a $(LDLIBS) -lm

$(BUILD)/sysnet.pc: sysnet.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|0.1.0|g' $< > $@

# ---- snc, the schema compiler (tools/snc/*.c: not in tools/, so not in build/sysnet) ----
SNC_SRC := $(sort $(wildcard tools/snc/*.c))
SNC_OBJ := $(SNC_SRC:%.c=$(BUILD)/obj/%.o)
all: $(BUILD)/snc
$(BUILD)/snc: $(SNC_OBJ) $(BUILD)/libsysnet.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(SNC_OBJ) $(BUILD)/libsysnet.a $(LDLIBS)

# ---- sanitizer build for tests ----
$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) -O1 -g $(SAN) $(DEPFLAGS) -c $< -o $@

$(BUILD)/asan/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/asan/libsysnet.a: $(ASAN_LIB_OBJ)
	rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/asan/sysnet: $(ASAN_TOOL_OBJ) $(BUILD)/asan/libsysnet.a
	$(CC) $(SAN) -o $@ $(ASAN_TOOL_OBJ) $(BUILD)/asan/libsysnet.a $(LDLIBS) -lm

$(BUILD)/asan/test_%: $(BUILD)/asan/obj/tests/unit/test_%.o $(BUILD)/asan/libsysnet.a
	$(CC) $(SAN) -o $@ $< $(BUILD)/asan/libsysnet.a $(LDLIBS) -lm

# ---- ThreadSanitizer build for the runtime's tests ----
TSAN := -fsanitize=thread -fno-omit-frame-pointer
$(BUILD)/tsan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) -O1 -g $(TSAN) $(DEPFLAGS) -c $< -o $@
$(BUILD)/tsan/obj/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(DEPFLAGS) -c $< -o $@
$(BUILD)/tsan/libsysnet.a: $(TSAN_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^
$(BUILD)/tsan/test_%: $(BUILD)/tsan/obj/tests/unit/test_%.o $(BUILD)/tsan/libsysnet.a
	$(CC) $(TSAN) -o $@ $< $(BUILD)/tsan/libsysnet.a $(LDLIBS) -lm

# ---- fuzz targets (clang + libFuzzer, whatever CC is) ----
$(BUILD)/fuzz/%: fuzz/%.c $(LIB_SRC) $(LIB_ASM) $(wildcard include/sysnet/*.h)
	@mkdir -p $(dir $@)
	$(FUZZCC) $(WARN) $(CPPFLAGS) -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -o $@ $< $(LIB_SRC) $(LIB_ASM) $(LDLIBS)

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p $(BUILD)/fuzz/corpus/$$n; \
	  echo "== $$n ($(FUZZ_TIME)s)"; \
	  $$f -max_total_time=$(FUZZ_TIME) -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
	      $(BUILD)/fuzz/corpus/$$n fuzz/corpus/$$n 2>&1 | grep -E '^(Done|stat::number_of_executed_units|==|SUMMARY)' || exit 1; \
	done

# ---- benchmarks ----
$(BUILD)/bench/%: bench/%.c $(BUILD)/libsysnet.a
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CPPFLAGS) -O2 -g -march=native -o $@ $< $(BUILD)/libsysnet.a $(LDLIBS) -lm

bench: all $(BENCH_BIN)
	BUILD=$(BUILD) bash bench/run.sh

# ---- bench/loop peers: echo servers over libuv, libev and libevent (bench/loop/echo_*.c),
# built only where the library is installed (bench/loop/peers.sh says; bench/setup.sh
# installs, as root). bench_timers (the generic rule) also times libuv and libev timers
# when they are there, and is rebuilt when that set changes (peers.txt). ----
LOOP_PEER_BIN := $(patsubst bench/loop/%.c,$(BUILD)/bench/loop/%,$(wildcard bench/loop/echo_*.c))
.PHONY: bench-peers loop-peers-check
bench-peers: $(LOOP_PEER_BIN)
bench: bench-peers
$(BUILD)/bench/loop/echo_%: bench/loop/echo_%.c bench/loop/echo.h
	@mkdir -p $(dir $@)
	@if libs=$$(CC='$(CC)' bash bench/loop/peers.sh libs $*); then \
	  echo "$(CC) -O2 -g -o $@ $< $$libs"; $(CC) $(WARN) $(CPPFLAGS) -O2 -g -o $@ $< $$libs; \
	else echo "bench-peers: $@: peer missing (lib$*: bash bench/setup.sh as root installs it)"; fi
$(BUILD)/bench/loop/peers.txt: loop-peers-check
	@mkdir -p $(dir $@)
	@CC='$(CC)' bash bench/loop/peers.sh list > $@.new; if cmp -s $@.new $@; then rm -f $@.new; else mv -f $@.new $@; fi
$(BUILD)/bench/loop/bench_timers: $(BUILD)/bench/loop/peers.txt
$(BUILD)/bench/loop/bench_timers: private CPPFLAGS += $(shell CC='$(CC)' bash bench/loop/peers.sh cflags uv ev)
$(BUILD)/bench/loop/bench_timers: private LDLIBS += $(shell CC='$(CC)' bash bench/loop/peers.sh libs uv ev)

# ---- bench/codec: bench_codec (the generic rule) compiles in the code snc generates from
# bench/codec/order.proto; the peers (protobuf-c in C, Cap'n Proto and FlatBuffers in C++,
# bench/codec/peer_*.c*) are generated and built by bench/codec/peers.sh, only where
# installed (bench/setup.sh installs, as root). ----
CODEC_GEN := $(BUILD)/bench/codec/gen
CODEC_PEER_BIN := $(BUILD)/bench/codec/peer_pbc $(BUILD)/bench/codec/peer_capnp $(BUILD)/bench/codec/peer_fb
bench-peers: $(CODEC_PEER_BIN)
$(CODEC_GEN)/snc/order.pb.c: bench/codec/order.proto bench/codec/peers.sh $(BUILD)/snc
	@BUILD='$(BUILD)' bash bench/codec/peers.sh snc $(BUILD)/snc $(CODEC_GEN)/snc
$(BUILD)/bench/codec/bench_codec: $(CODEC_GEN)/snc/order.pb.c bench/codec/common.h
$(BUILD)/bench/codec/bench_codec: private CPPFLAGS += -I$(CODEC_GEN)/snc
$(BUILD)/bench/codec/peer_%: bench/codec/peers.sh bench/codec/common.h $(wildcard bench/codec/order.* bench/codec/peer_*.c*)
	@CC='$(CC)' CXX='$(CXX)' BUILD='$(BUILD)' bash bench/codec/peers.sh build $* $@

# ---- the two set-up commands ----
test-build: $(BUILD)/asan/sysnet $(TEST_BIN) $(TSAN_BIN) all
test: test-build
	@if command -v $(FUZZCC) >/dev/null 2>&1; then $(MAKE) --no-print-directory fuzz-build; fi
	BUILD=$(BUILD) FUZZ_SMOKE_TIME=$(FUZZ_SMOKE_TIME) bash tests/run.sh

demo: all
	$(BUILD)/sysnet lab

# ---- install ----
install: all
	install -d $(DESTDIR)$(PREFIX)/include/sysnet $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/sysnet/*.h $(DESTDIR)$(PREFIX)/include/sysnet/
	install -m 644 $(BUILD)/libsysnet.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libsysnet.so $(DESTDIR)$(PREFIX)/lib/libsysnet.so.0.1.0
	ln -sf libsysnet.so.0.1.0 $(DESTDIR)$(PREFIX)/lib/libsysnet.so.0
	ln -sf libsysnet.so.0 $(DESTDIR)$(PREFIX)/lib/libsysnet.so
	install -m 644 $(BUILD)/sysnet.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(BUILD)/sysnet $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
$(BUILD)/fuzz/fuzz_flat: $(wildcard fuzz/gen/*) # it #includes snc's checked-in output
