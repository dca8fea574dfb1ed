import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GossipRateLimit } from '../../src/p2p/gossip-rate-limit.js'
import { ManualClock } from '../../src/util/clock.js'

/** How many of `count` messages, delivered by `link` and each signed by `author(i)`, pass the budget. */
function admitted (limit: GossipRateLimit, link: string, count: number, author: (i: number) => string): number {
  let ok = 0
  for (let i = 0; i < count; i++) if (limit.check(link, author(i)) === 'ok') ok++
  return ok
}

describe('gossip rate limits', () => {
  it('a flood signed with a fresh key per message still gets one link\'s budget; other links are untouched', () => {
    const clock = new ManualClock()
    const limit = new GossipRateLimit(clock, { perAuthorPerMinute: 600, perLinkPerMinute: 6_000 })
    assert.equal(admitted(limit, 'attacker', 20_000, (i) => `fresh-key-${i}`), 6_000)
    assert.equal(limit.check('attacker', 'fresh-key-x'), 'link-over-budget')
    assert.equal(limit.stats.limited, 14_001)
    assert.equal(admitted(limit, 'honest-neighbour', 100, (i) => `author-${i % 3}`), 100, 'an honest link is not charged for the flood')
    // The budget refills continuously: a second later the attacker's link has 100 more.
    clock.advance(1_000)
    assert.equal(admitted(limit, 'attacker', 1_000, (i) => `later-key-${i}`), 100)
  })

  it('one author flooding through several honest relays gets its own budget in all', () => {
    const clock = new ManualClock()
    const limit = new GossipRateLimit(clock, { perAuthorPerMinute: 600, perLinkPerMinute: 6_000 })
    const relays = ['relay-a', 'relay-b', 'relay-c']
    let ok = 0
    for (let i = 0; i < 3_000; i++) if (limit.check(relays[i % 3]!, 'flooder') === 'ok') ok++
    assert.equal(ok, 600)
    assert.equal(limit.check('relay-a', 'flooder'), 'author-over-budget')
    assert.equal(limit.check('relay-a', 'someone-else'), 'ok', 'the relays still carry everyone else')
  })

  it('charges a message by the records it carries: one larger than the budget never passes, nor takes any', () => {
    const clock = new ManualClock()
    const limit = new GossipRateLimit(clock, { perAuthorPerMinute: 600, perLinkPerMinute: 6_000 })
    assert.equal(limit.check('relay', 'batcher', 2_100), 'author-over-budget')
    assert.equal(limit.check('relay', 'batcher', 500), 'ok')
    assert.equal(limit.check('relay', 'batcher', 101), 'author-over-budget', '100 left of 600')
    assert.equal(limit.check('relay', 'batcher', 100), 'ok')
    assert.equal(limit.check('relay', 'fresh-key', 6_001), 'link-over-budget', 'fresh keys meet the link\'s budget in records')
  })

  it('charges a link by the bytes it delivers too: large records stop at the byte budget, small ones still pass', () => {
    const clock = new ManualClock()
    const limit = new GossipRateLimit(clock, { perAuthorPerMinute: 600, perLinkPerMinute: 6_000, bytesPerLinkPerMinute: 2 ** 20 })
    let ok = 0
    for (let i = 0; i < 40; i++) if (limit.check('relay', `author-${i}`, 1, 32 * 1024) === 'ok') ok++
    assert.equal(ok, 32, '32 records of 32 KiB make the 1 MiB budget')
    assert.equal(limit.check('relay', 'author-x', 1, 32 * 1024), 'link-over-budget')
    // A refusal for bytes gives back the records it took: the link's record budget is intact.
    clock.advance(600)
    assert.equal(limit.check('relay', 'author-y', 1, 10_000), 'ok')
    assert.equal(limit.check('other-relay', 'author-z', 1, 32 * 1024), 'ok', 'other links are untouched')
  })
})
