import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ProposalError } from '../../src/agent/proposer.js'
import { toHttpError } from '../../src/http/http-error.js'
import { RecordError, parseRecord } from '../../src/state/records.js'
import { isSwarmdError } from '../../src/util/errors.js'

describe('one error base: every typed error is a SwarmdError with a stable code', () => {
  it('a record that does not parse, a proposal that failed: SwarmdErrors, branched on by code', async () => {
    let thrown: unknown
    try { await parseRecord('{"not": "a record"') } catch (err) { thrown = err }
    assert.ok(thrown instanceof RecordError)
    assert.ok(isSwarmdError(thrown, 'RECORD_NOT_JSON'))
    assert.equal((thrown as RecordError).fault, 'RECORD_NOT_JSON')
    assert.ok(isSwarmdError(new ProposalError('PROPOSAL_EXHAUSTED', 'nothing left to try'), 'PROPOSAL_EXHAUSTED'))
  })

  it('the API answers them with their code and a fitting status, not an internal error', () => {
    const tooLarge = toHttpError(new RecordError('RECORD_TOO_LARGE', 'record is too large'))
    assert.deepEqual([tooLarge.status, tooLarge.code], [413, 'RECORD_TOO_LARGE'])
    const plain = toHttpError(new Error('boom'))
    assert.deepEqual([plain.status, plain.code], [500, 'INTERNAL'])
  })
})
