/**
 * Value mapping between JS and scripts.
 *
 * Arguments (JS -> script):
 *   null, undefined         -> null
 *   boolean                 -> bool
 *   number, integer in int64 range -> int; any other number (2.5, NaN, Infinity, -0) -> float
 *   new Float(x)            -> float, even when x is integral (JS cannot tell 2 from 2.0)
 *   bigint                  -> int (must fit in 64-bit signed; else InvalidArgumentError)
 *   string                  -> string
 *   array                   -> array
 *   plain object (prototype Object.prototype or null) -> map of its own enumerable string keys
 *   anything else (functions, symbols, class instances, Date, Map, typed arrays, cycles)
 *                           -> InvalidArgumentError before any native work
 *
 * Edge cases (all refusals are InvalidArgumentError, ERR_BRAKE_INVALID_ARGUMENT,
 * before the call is admitted, so nothing of it is left in the engine):
 *   -0        crosses as the float -0.0, so `f(x: float)` receives and can
 *             return -0; where an int is declared it is 0, and in `int | float`
 *             it is the float. NaN and +-Infinity are floats too; all of them
 *             round-trip exactly (results are IEEE doubles, never null).
 *   Proxy     refused, whatever it wraps, before any trap runs (the check is
 *             util.types.isProxy): a trap cannot throw, lie or hang here.
 *   typed arrays, ArrayBuffer, DataView, Buffer: refused (pass Array.from(x)).
 *   getters   own enumerable accessors are read; one that throws refuses the
 *             call, the thrown value becoming the error's `cause`.
 *   "__proto__" an own key of that name (JSON.parse('{"__proto__": 1}')) is an
 *             ordinary key, and comes back as an own data property.
 *   frozen, sealed and non-extensible arrays and objects cross as usual.
 *   holes     a sparse array is refused at its first hole (so a huge sparse
 *             array costs only its real elements); `[undefined]` is [null].
 *   length    arrays longer than 2^24 elements are refused before any read.
 *   lone surrogates ('\uD800') become U+FFFD, as in every V8 UTF-8 conversion;
 *             two keys of one object that become equal so are refused.
 *
 * Results (script -> JS):
 *   int    -> number when it is a safe integer (|n| <= 2^53-1), else bigint
 *   float  -> number (NaN, +-Infinity and -0 included)
 *   map    -> plain object (Object.prototype; a "__proto__" key is an own data property)
 *   class instance -> plain object of its fields; the class name is the
 *             non-enumerable property {@link BRAKE_CLASS} (see {@link className})
 *   enum   -> the variant name as a string
 *   a string longer than V8's limit (2^29-24 characters) -> the call rejects
 *             with ScriptError kind 'value_too_large'
 */

/** Marks a number to cross as a script `float` even when it is integral: `engine.call('f', [new Float(2)])`. */
export class Float {
  readonly value: number;
  constructor(value: number) {
    if (typeof value !== 'number') throw new TypeError('Float(value): value must be a number');
    this.value = value;
  }
}

/** Key of the non-enumerable class name on objects that came from script class instances. */
export const BRAKE_CLASS: unique symbol = Symbol.for('brake.class') as never;

/** The script class name of an object returned from a script class instance, or undefined. */
export function className(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const name = (value as Record<symbol, unknown>)[BRAKE_CLASS];
  return typeof name === 'string' ? name : undefined;
}

/**
 * The addon's fast path for a result that is a container (native/addon/values.cpp):
 * the value as JSON text, and `marks`, the class name of each object in
 * pre-order ("" for a map), when it holds class instances. The instances get
 * their non-enumerable class name (BRAKE_CLASS) here, as the node-by-node
 * path gives it.
 */
export function fromJson(text: string, marks: string | undefined): unknown {
  const value: unknown = JSON.parse(text);
  if (marks !== undefined && value !== null && typeof value === 'object') {
    const names = marks.split('\n');
    let next = 0;
    const walk = (v: object): void => {
      if (Array.isArray(v)) {
        for (const x of v) if (x !== null && typeof x === 'object') walk(x);
        return;
      }
      const name = names[next++];
      if (name) Object.defineProperty(v, BRAKE_CLASS, { value: name });
      for (const k in v) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== null && typeof x === 'object') walk(x);
      }
    };
    walk(value);
  }
  return value;
}
