# order.capnp — the bench/codec message for Cap'n Proto (same fields as order.proto).
@0xd6c1f3a2b4e59a01;

struct Fill {
  price @0 :Int64;
  qty @1 :UInt32;
  ts @2 :UInt64;
}

enum Side {
  sideUnspecified @0;
  buy @1;
  sell @2;
}

struct Order {
  id @0 :UInt64;
  symbol @1 :Text;
  side @2 :Side;
  price @3 :Int64;
  qty @4 :UInt32;
  timestamp @5 :UInt64;
  account @6 :Text;
  flags @7 :UInt32;
  venue @8 :UInt32;
  fills @9 :List(Fill);
}
