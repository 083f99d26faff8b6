# Mutation fuzzing of Server.handle on both interpreters (bounded here;
# `make fuzz` runs it at length): no exception escapes, no reply to a
# malformed packet, the lease table untouched by one, every reply re-parses,
# fits the client's size and goes to the relay when relayed.

import fuzzing
import util

COUNT = int(util.env("DORA_FUZZ_COUNT") or util.size(3000, 400))


def test_mutated_requests_never_break_the_server():
    tried, replies, malformed = fuzzing.run(COUNT, seed=0xD0A)
    print("fuzz: %d packets, %d replies, %d malformed dropped" % (tried, replies, malformed))
    # The mix must exercise both sides, or the test proves nothing.
    assert replies > COUNT // 20 and malformed > COUNT // 20, (replies, malformed)


def test_second_seed_and_a_large_reply_buffer():
    tried, replies, malformed = fuzzing.run(COUNT // 2, seed=0xBEEF, out_size=1500)
    assert replies and malformed


def test_prng_is_the_same_on_every_interpreter():
    # The same seed gives the same packets under pytest and on MicroPython.
    r = fuzzing.Rng(1)
    assert [r.next16() for _ in range(6)] == [19067, 50304, 33686, 39635, 58763, 25188]
    r1, r2 = fuzzing.Rng(7), fuzzing.Rng(7)
    assert [r1.below(1000) for _ in range(50)] == [r2.below(1000) for _ in range(50)]


def test_a_server_with_every_feature_on():
    # Static hosts, classes with sub-ranges, Rapid Commit, hostnames, deny
    # list and offer cap: more paths for the mutated packets to reach.
    tried, replies, malformed = fuzzing.run(COUNT, seed=0xFEA7, features=True)
    print("fuzz (features): %d packets, %d replies, %d malformed dropped" % (tried, replies, malformed))
    assert replies > COUNT // 20 and malformed > COUNT // 20, (replies, malformed)


def test_no_mutated_packet_makes_the_server_allocate():
    # Memory bounded: under micropython.heap_lock() every handle() of a
    # mutated packet, malformed or not, allocates nothing.
    if not util.MICROPYTHON:
        util.skip("heap_lock exists on MicroPython only (run by mp_runner)")
    tried, replies, malformed = fuzzing.run(COUNT // 2, seed=0x10CC, features=True, lock=True)
    assert replies and malformed
