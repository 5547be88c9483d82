// peer_fb.cpp — FlatBuffers (C++) in bench/codec: the Order of order.fbs through the code
// of `flatc --cpp` and libflatbuffers, used the way its docs advise for speed:
//   encode: one FlatBufferBuilder kept across messages (Clear() between them, so its
//           buffer is reused), strings and the vector of Fill structs first, then the table;
//   decode: flatbuffers::Verifier over the bytes (what a receiver of untrusted input
//           must do), GetRoot, every accessor;
//   read:   Verifier, GetRoot, price().
// A second row, flatbuffers-noverify, skips the Verifier (trusted input only).
//   peer_fb bench [ITERS]      one timed run (the row format of common.h)
// Built by bench/codec/peers.sh with the generated order_generated.h on the include path.
#include "common.h"

#include <flatbuffers/flatbuffers.h>

#include "order_generated.h"

using namespace snbench::fb;

namespace {

struct Ctx {
    flatbuffers::FlatBufferBuilder fbb{256};
    alignas(16) uint8_t wire[256];
    size_t wire_len;
};

size_t build(flatbuffers::FlatBufferBuilder &b)
{
    b.Clear();
    auto sym = b.CreateString(SNB_SYMBOL);
    auto acc = b.CreateString(SNB_ACCOUNT);
    Fill *fp;
    auto fills = b.CreateUninitializedVectorOfStructs<Fill>(SNB_NFILLS, &fp);
    for (unsigned i = 0; i < SNB_NFILLS; i++)
        fp[i] = Fill(snb_fill_price[i], snb_fill_ts[i], snb_fill_qty[i]);
    OrderBuilder ob(b);
    ob.add_id(SNB_ID);
    ob.add_symbol(sym);
    ob.add_side(static_cast<Side>(SNB_SIDE));
    ob.add_price(SNB_PRICE);
    ob.add_qty(SNB_QTY);
    ob.add_timestamp(SNB_TIMESTAMP);
    ob.add_account(acc);
    ob.add_flags(SNB_FLAGS);
    ob.add_venue(SNB_VENUE);
    ob.add_fills(fills);
    b.Finish(ob.Finish());
    return b.GetSize();
}

uint64_t sum(const Order *o)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = snb_mix(h, o->id());
    const flatbuffers::String *sym = o->symbol();
    h = sym ? snb_str_sum(h, sym->c_str(), sym->size()) : snb_str_sum(h, "", 0);
    h = snb_mix(h, static_cast<uint64_t>(o->side()));
    h = snb_mix(h, static_cast<uint64_t>(o->price()));
    h = snb_mix(h, o->qty());
    h = snb_mix(h, o->timestamp());
    const flatbuffers::String *acc = o->account();
    h = acc ? snb_str_sum(h, acc->c_str(), acc->size()) : snb_str_sum(h, "", 0);
    h = snb_mix(h, o->flags());
    h = snb_mix(h, o->venue());
    auto fills = o->fills();
    uint64_t n = fills ? fills->size() : 0;
    h = snb_mix(h, n);
    for (uint64_t i = 0; i < n; i++) {
        const Fill *f = fills->Get(static_cast<flatbuffers::uoffset_t>(i));
        h = snb_mix(h, static_cast<uint64_t>(f->price()));
        h = snb_mix(h, f->qty());
        h = snb_mix(h, f->ts());
    }
    return h;
}

uint64_t encode_op(void *p)
{
    Ctx *c = static_cast<Ctx *>(p);
    size_t n = build(c->fbb);
    return n + c->fbb.GetBufferPointer()[n - 1];
}

uint64_t decode_op(void *p)
{
    Ctx *c = static_cast<Ctx *>(p);
    flatbuffers::Verifier v(c->wire, c->wire_len);
    if (!VerifyOrderBuffer(v))
        return 0;
    return sum(GetOrder(c->wire));
}

uint64_t read_op(void *p)
{
    Ctx *c = static_cast<Ctx *>(p);
    flatbuffers::Verifier v(c->wire, c->wire_len);
    if (!VerifyOrderBuffer(v))
        return 0;
    return static_cast<uint64_t>(GetOrder(c->wire)->price());
}

uint64_t decode_nv_op(void *p)
{
    Ctx *c = static_cast<Ctx *>(p);
    return sum(GetOrder(c->wire));
}

uint64_t read_nv_op(void *p)
{
    Ctx *c = static_cast<Ctx *>(p);
    return static_cast<uint64_t>(GetOrder(c->wire)->price());
}

} // namespace

int main(int argc, char **argv)
{
    static Ctx c;
    c.wire_len = build(c.fbb);
    if (c.wire_len > sizeof(c.wire))
        return 1;
    memcpy(c.wire, c.fbb.GetBufferPointer(), c.wire_len);
    if (argc < 2 || strcmp(argv[1], "bench") != 0) {
        fprintf(stderr, "usage: peer_fb bench [ITERS]\n");
        return 2;
    }
    if (decode_op(&c) != snb_expected_sum()) {
        fprintf(stderr, "peer_fb: decoded values differ from the reference values\n");
        return 1;
    }
    long iters = snb_iters(argc, argv);
    snb_result e = snb_time(encode_op, &c, iters);
    snb_result d = snb_time(decode_op, &c, iters);
    snb_result r = snb_time(read_op, &c, iters);
    snb_row("flatbuffers", e, d, r, c.wire_len);
    snb_result d2 = snb_time(decode_nv_op, &c, iters);
    snb_result r2 = snb_time(read_nv_op, &c, iters);
    snb_row("flatbuffers-noverify", e, d2, r2, c.wire_len);
    return 0;
}
