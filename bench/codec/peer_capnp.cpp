// peer_capnp.cpp — Cap'n Proto (C++) in bench/codec: the Order of order.capnp through the
// code of `capnp compile -oc++` and libcapnp, used the way its docs advise for speed:
//   encode: a MallocMessageBuilder whose first segment is caller scratch space (so it
//           does not allocate), the fields set, then the flat array (segment table +
//           segment) copied to the wire buffer with writeMessage into an ArrayOutputStream;
//   decode: a FlatArrayMessageReader over the (word-aligned) wire bytes, getRoot, every
//           accessor (bounds-checked, lazily, by the accessors themselves);
//   read:   the same reader, getRoot, getPrice().
//   peer_capnp bench [ITERS]      one timed run (the row format of common.h)
// Built by bench/codec/peers.sh with the generated order.capnp.h on the include path.
#include "common.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/io.h>

#include "order.capnp.h"

namespace {

struct Ctx {
    capnp::word scratch[64];
    capnp::word wire[64]; // aligned: FlatArrayMessageReader wants words
    size_t wire_len;      // bytes
};

size_t build(Ctx *c, capnp::word *out, size_t out_words)
{
    capnp::MallocMessageBuilder mb(kj::arrayPtr(c->scratch, 64));
    Order::Builder o = mb.initRoot<Order>();
    o.setId(SNB_ID);
    o.setSymbol(SNB_SYMBOL);
    o.setSide(static_cast<Side>(SNB_SIDE));
    o.setPrice(SNB_PRICE);
    o.setQty(SNB_QTY);
    o.setTimestamp(SNB_TIMESTAMP);
    o.setAccount(SNB_ACCOUNT);
    o.setFlags(SNB_FLAGS);
    o.setVenue(SNB_VENUE);
    auto fills = o.initFills(SNB_NFILLS);
    for (unsigned i = 0; i < SNB_NFILLS; i++) {
        fills[i].setPrice(snb_fill_price[i]);
        fills[i].setQty(snb_fill_qty[i]);
        fills[i].setTs(snb_fill_ts[i]);
    }
    kj::ArrayOutputStream os(kj::arrayPtr(reinterpret_cast<kj::byte *>(out), out_words * sizeof(capnp::word)));
    capnp::writeMessage(os, mb);
    return os.getArray().size();
}

uint64_t sum(Order::Reader o)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = snb_mix(h, o.getId());
    auto sym = o.getSymbol();
    h = snb_str_sum(h, sym.begin(), sym.size());
    h = snb_mix(h, static_cast<uint64_t>(o.getSide()));
    h = snb_mix(h, static_cast<uint64_t>(o.getPrice()));
    h = snb_mix(h, o.getQty());
    h = snb_mix(h, o.getTimestamp());
    auto acc = o.getAccount();
    h = snb_str_sum(h, acc.begin(), acc.size());
    h = snb_mix(h, o.getFlags());
    h = snb_mix(h, o.getVenue());
    auto fills = o.getFills();
    h = snb_mix(h, fills.size());
    for (auto f : fills) {
        h = snb_mix(h, static_cast<uint64_t>(f.getPrice()));
        h = snb_mix(h, f.getQty());
        h = snb_mix(h, f.getTs());
    }
    return h;
}

uint64_t encode_op(void *p)
{
    Ctx *c = static_cast<Ctx *>(p);
    capnp::word out[64];
    size_t n = build(c, out, 64);
    snb_sink = reinterpret_cast<const uint8_t *>(out)[n - 1];
    return n;
}

uint64_t decode_op(void *p)
{
    Ctx *c = static_cast<Ctx *>(p);
    capnp::FlatArrayMessageReader r(kj::arrayPtr(c->wire, c->wire_len / sizeof(capnp::word)));
    return sum(r.getRoot<Order>());
}

uint64_t read_op(void *p)
{
    Ctx *c = static_cast<Ctx *>(p);
    capnp::FlatArrayMessageReader r(kj::arrayPtr(c->wire, c->wire_len / sizeof(capnp::word)));
    return static_cast<uint64_t>(r.getRoot<Order>().getPrice());
}

} // namespace

int main(int argc, char **argv)
{
    static Ctx c;
    c.wire_len = build(&c, c.wire, 64);
    if (argc < 2 || strcmp(argv[1], "bench") != 0) {
        fprintf(stderr, "usage: peer_capnp bench [ITERS]\n");
        return 2;
    }
    if (decode_op(&c) != snb_expected_sum()) {
        fprintf(stderr, "peer_capnp: decoded values differ from the reference values\n");
        return 1;
    }
    long iters = snb_iters(argc, argv);
    snb_result e = snb_time(encode_op, &c, iters);
    snb_result d = snb_time(decode_op, &c, iters);
    snb_result r = snb_time(read_op, &c, iters);
    snb_row("capnproto", e, d, r, c.wire_len);
    return 0;
}
