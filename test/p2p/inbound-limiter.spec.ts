import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { addressRange } from '../../src/p2p/inbound-limiter.js'

describe('address ranges of the inbound limiter', () => {
  it('groups IPv4 by /24 and IPv6 by /48, an IPv4-mapped address as IPv4', () => {
    assert.equal(addressRange('203.0.113.7'), '203.0.113.0/24')
    assert.equal(addressRange('203.0.113.250'), addressRange('203.0.113.7'))
    assert.notEqual(addressRange('203.0.114.7'), addressRange('203.0.113.7'))
    assert.equal(addressRange('::ffff:203.0.113.7'), '203.0.113.0/24')
    assert.equal(addressRange('2001:db8:abcd:12::1'), '8193:3512:43981::/48')
    assert.equal(addressRange('2001:db8:abcd::'), addressRange('2001:0db8:abcd:ffff:1:2:3:4'))
    assert.notEqual(addressRange('2001:db8:abce::1'), addressRange('2001:db8:abcd::1'))
    assert.equal(addressRange('::1'), '0:0:0::/48')
  })
})
