/* fuzz_flat.c — libFuzzer target for the flat-layout verifier that `snc --flat`
 * generates (the schema: tests/peers/proto/nested.proto, generated into fuzz/gen/ and
 * included here, since the fuzz rule builds one .c file with the library). Any bytes
 * are verified as a flat Order, Node and Repeated; nothing may read out of bounds. A
 * buffer that verifies is read back through the accessors into the struct, which must
 * re-encode as protobuf, convert to flat again, verify, and read back to the same
 * protobuf bytes. Regenerate gen/ with:
 *   build/snc --c-out fuzz/gen --flat tests/peers/proto/nested.proto */
#include "gen/nested.pb.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t arena1[1 << 22], arena2[1 << 22], pb1[1 << 20], pb2[1 << 20], flat2[1 << 21];

#define ROUNDTRIP(X)                                                                          \
    do {                                                                                      \
        struct X m, back;                                                                     \
        struct sn_pb_arena a, b;                                                              \
        sn_pb_arena_init(&a, arena1, sizeof(arena1));                                         \
        sn_pb_arena_init(&b, arena2, sizeof(arena2));                                         \
        int rc = X##_flat_verify(data, size);                                                 \
        if (rc != 0 && rc != -EBADMSG && rc != -ENODATA)                                      \
            abort();                                                                          \
        int rf = X##_from_flat(&m, data, size, &a);                                           \
        if (rc != 0) {                                                                        \
            if (rf != rc) /* from_flat verifies first */                                      \
                abort();                                                                      \
            break;                                                                            \
        }                                                                                     \
        if (rf == -ENOMEM) /* a legal but large buffer: more elements than the arena */       \
            break;                                                                            \
        if (rf != 0)                                                                          \
            abort();                                                                          \
        int n1 = X##_encode(&m, pb1, sizeof(pb1));                                            \
        if (n1 == -ENOSPC)                                                                    \
            break;                                                                            \
        if (n1 < 0)                                                                           \
            abort();                                                                          \
        int f2 = X##_to_flat(&m, flat2, sizeof(flat2));                                       \
        if (f2 == -ENOSPC)                                                                    \
            break;                                                                            \
        if (f2 < 0 || X##_flat_verify(flat2, (size_t)f2) != 0)                                \
            abort();                                                                          \
        if (X##_from_flat(&back, flat2, (size_t)f2, &b) != 0)                                 \
            abort();                                                                          \
        int n2 = X##_encode(&back, pb2, sizeof(pb2));                                         \
        if (n2 != n1 || memcmp(pb1, pb2, (size_t)n1) != 0)                                    \
            abort();                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ROUNDTRIP(sn_test_Order);
    ROUNDTRIP(sn_test_Node);
    ROUNDTRIP(sn_test_Repeated);
    return 0;
}
