/**
 * The field's words, as data: each entry's `terms` are read as its `means` before two experiment
 * descriptions are compared (src/claims/semantic.ts), so shorthand, train.py's constant names and
 * the names autoresearch-style train.py files use for attention variants, norms, embeddings,
 * schedules and optimizer internals compare as the same idea. Lower case; a term matches as whole
 * words, its spaces also matching `_` or `-`. Add a term only where it never means anything else
 * in a description of a training change: a wrong merge costs an experiment nobody runs.
 * test/claims/glossary.spec.ts checks every entry.
 */
export interface GlossaryEntry {
  means: string
  terms: readonly string[]
}

export const GLOSSARY: readonly GlossaryEntry[] = [
  { means: 'learning rate', terms: ['lr', 'step size'] },
  { means: 'batch size', terms: ['bs', 'batch sz'] },
  { means: 'weight decay', terms: ['wd'] },
  { means: 'rotary position embeddings', terms: ['rope', 'rotary embeddings', 'rotary embedding', 'rotary positional embeddings', 'rotary pos emb'] },
  { means: 'rotary base', terms: ['rope base', 'rope theta', 'rotary theta', 'rotary embedding base', 'rotary embedding theta', 'rotary embeddings base', 'rotary embeddings theta', 'rotary position embeddings base', 'rotary position embeddings theta', 'rope frequency base', 'rotary frequency base'] },
  { means: 'feed forward', terms: ['mlp', 'ffn', 'feedforward', 'feed-forward network'] },
  { means: 'model width', terms: ['n embd', 'n embed', 'd model', 'width', 'hidden size', 'embedding dim', 'embedding dimension', 'model dim', 'model dimension'] },
  { means: 'layers', terms: ['n layers', 'n layer', 'depth', 'num layers', 'number of layers', 'transformer blocks', 'n blocks'] },
  { means: 'key value heads', terms: ['kv heads', 'n kv head', 'n kv heads', 'num kv heads'] },
  { means: 'attention heads', terms: ['n heads', 'n head', 'heads', 'num heads'] },
  { means: 'multi query attention', terms: ['mqa', 'multi-query attention'] },
  { means: 'grouped query attention', terms: ['gqa', 'grouped-query attention'] },
  { means: 'query key norm', terms: ['qk norm', 'qknorm', 'qk-norm', 'qk normalization', 'query-key normalization'] },
  { means: 'rms norm', terms: ['rmsnorm', 'rms normalization', 'root mean square norm'] },
  { means: 'layer norm', terms: ['layernorm', 'layer normalization'] },
  { means: 'token embedding', terms: ['wte', 'token embeddings', 'input embedding'] },
  { means: 'output head', terms: ['lm head', 'unembedding', 'output projection', 'lm-head'] },
  { means: 'weight tying', terms: ['tied embeddings', 'tie embeddings', 'tie weights', 'tied weights'] },
  { means: 'logit softcap', terms: ['softcap', 'soft cap', 'logit soft cap', 'logit softcapping', 'logit soft-capping', 'softcapping'] },
  { means: 'squared relu', terms: ['relu^2', 'relu ^ 2', 'relu squared', 'relu2', 'relu sq'] },
  { means: 'adam beta2', terms: ['second adam beta', 'adam beta 2', 'beta2 of adam'] },
  { means: 'adam beta1', terms: ['first adam beta', 'adam beta 1', 'beta1 of adam'] },
  { means: 'adam epsilon', terms: ['adam eps', 'eps of adam'] },
  { means: 'nesterov momentum', terms: ['nesterov'] },
  { means: 'gradient clipping', terms: ['grad clip', 'clip grads', 'clip gradients', 'grad clipping', 'gradient clip', 'grad norm clipping', 'clip grad norm'] },
  { means: 'gradient accumulation', terms: ['grad accum', 'grad accumulation', 'gradient accum', 'accumulation steps'] },
  { means: 'context length', terms: ['ctx', 'seq len', 'sequence length', 'block size', 'max seq len', 'sequence len', 'context window'] },
  { means: 'vocabulary size', terms: ['vocab size', 'vocab'] },
  { means: 'cosine decay', terms: ['cosine schedule', 'cosine annealing', 'cosine lr schedule', 'cosine learning rate schedule'] },
  { means: 'warmdown', terms: ['cooldown', 'cool-down', 'cool down', 'warm-down'] },
  { means: 'exponential moving average', terms: ['ema'] },
  { means: 'flash attention', terms: ['flash attn', 'flashattention'] },
  { means: 'linear layers', terms: ['nn.linear'] },
  { means: 'bias', terms: ['biases'] },
  { means: 'double', terms: ['2x', 'x2', 'twice'] },
  { means: 'halve', terms: ['half'] }
]
