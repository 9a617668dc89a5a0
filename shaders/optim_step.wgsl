// Prelude of the fused optimizer kernels (`optim.wgsl`, one element per invocation, and
// `optim4.wgsl`, four consecutive elements per invocation as `vec4` loads and stores):
// the row table, the parameters and the update itself, written once over the type `V`
// that each kernel file declares (`f32` or `vec4<f32>`), with the buffers bound as
// arrays of `V`; an index below is in units of `V` (words, or groups of four words).
// Each kernel file declares `V`, its workgroup size and an entry point that calls
// `optim_at`.
//
// One pipeline per (optimizer kind, buffer mapping): OPT_KIND (one of OPT_*) selects the
// update and VAR_BUF / S0_BUF / S1_BUF / S2_BUF say which of the read-write bindings
// w0..w3 holds the variable and each slot (a slab may hold a variable and its slots, and
// a buffer is bound once). All are pipeline-overridable constants, so the branches fold
// away (llvmpipe executes both sides of a runtime branch).
//
// Slots, in varscope_core::Optimizer::slot_specs order:
//   momentum: s0 = momentum; adagrad: s0 = accumulator; rmsprop: s0 = rms, s1 = momentum;
//   centered rmsprop: s0 = rms, s1 = mg, s2 = momentum; adam/adamw: s0 = m, s1 = v.
//
// The arithmetic is the operation order of TensorFlow's training_ops kernels (and of
// Optimizer::reference_step), component by component the same for `f32` and `vec4<f32>`
// (a scalar operand of a vector operation is splat); drivers may contract a*b+c into
// fma, so results agree with the host reference to a few ulp, not bit for bit.

override OPT_KIND: u32;
override VAR_BUF: u32;
override S0_BUF: u32 = 0u;
override S1_BUF: u32 = 0u;
override S2_BUF: u32 = 0u;

const OPT_SGD: u32 = 0u;
const OPT_MOMENTUM: u32 = 1u;
const OPT_NESTEROV: u32 = 2u;
const OPT_ADAGRAD: u32 = 3u;
const OPT_RMSPROP: u32 = 4u;
const OPT_RMSPROP_CENTERED: u32 = 5u;
const OPT_ADAM: u32 = 6u;
const OPT_ADAMW: u32 = 7u;

// Row constraint codes.
const CONSTRAINT_NONE: u32 = 0u;
const CONSTRAINT_CLAMP: u32 = 1u;

struct OptimRow {
    // Offsets of the row's first element in the variable's, gradient's and slots'
    // bindings, in units of `V` (the vector kernel's rows start at multiples of 4 words).
    var_off: u32,
    grad_off: u32,
    s0_off: u32,
    s1_off: u32,
    s2_off: u32,
    // Units of `V` (elements, or groups of 4 elements).
    count: u32,
    // First invocation of the row in the dispatch: a multiple of the workgroup size
    // (each row starts a new workgroup; the host pads).
    start: u32,
    // CONSTRAINT_*; with CONSTRAINT_CLAMP the result is clamped to [lo, hi].
    constraint: u32,
    lo: f32,
    hi: f32,
    _pad0: u32,
    _pad1: u32,
}

struct OptimParams {
    num_rows: u32,
    // Invocations of the dispatch (padded rows).
    total: u32,
    // Learning rate (Adam: the bias-corrected lr_t of the step).
    lr: f32,
    // Momentum (momentum, rmsprop) or beta1 (adam).
    momentum: f32,
    // 1 - decay (rmsprop), 1 - beta1 (adam), rounded to f32 on the host.
    one_minus_a: f32,
    // 1 - beta2 (adam).
    one_minus_b: f32,
    epsilon: f32,
    weight_decay: f32,
}

// A uniform table (at most OPTIM_MAX_ROWS rows per dispatch): drivers load uniform data
// with scalar loads, where storage rows were loaded lane by lane (lavapipe: 5x the time of
// the whole Adam step).
const OPTIM_MAX_ROWS: u32 = 256u;
@group(0) @binding(0) var<uniform> rows: array<OptimRow, OPTIM_MAX_ROWS>;
@group(0) @binding(1) var<uniform> params: OptimParams;

// Updates unit `j` of `row`: reads the gradient, the variable and the kind's slots,
// writes the slots and the variable (clamped after the update where the row has a
// constraint).
fn optim_update(row: OptimRow, j: u32) {
    let vi = row.var_off + j;
    let g = grad[row.grad_off + j];
    var x = ld(VAR_BUF, vi);
    let lr = params.lr;
    if (OPT_KIND == OPT_SGD) {
        x = x - lr * g;
    } else if (OPT_KIND == OPT_MOMENTUM || OPT_KIND == OPT_NESTEROV) {
        let ai = row.s0_off + j;
        let a = ld(S0_BUF, ai) * params.momentum + g;
        st(S0_BUF, ai, a);
        if (OPT_KIND == OPT_NESTEROV) {
            x = x - (g * lr + a * params.momentum * lr);
        } else {
            x = x - a * lr;
        }
    } else if (OPT_KIND == OPT_ADAGRAD) {
        let ai = row.s0_off + j;
        let a = ld(S0_BUF, ai) + g * g;
        st(S0_BUF, ai, a);
        x = x - g * lr / sqrt(a);
    } else if (OPT_KIND == OPT_RMSPROP || OPT_KIND == OPT_RMSPROP_CENTERED) {
        let msi = row.s0_off + j;
        var ms = ld(S0_BUF, msi);
        ms = ms + (g * g - ms) * params.one_minus_a;
        st(S0_BUF, msi, ms);
        if (OPT_KIND == OPT_RMSPROP_CENTERED) {
            let mgi = row.s1_off + j;
            var mg = ld(S1_BUF, mgi);
            mg = mg + (g - mg) * params.one_minus_a;
            st(S1_BUF, mgi, mg);
            let denom = ms - mg * mg + params.epsilon;
            let momi = row.s2_off + j;
            let mom = ld(S2_BUF, momi) * params.momentum + lr * g / sqrt(denom);
            st(S2_BUF, momi, mom);
            x = x - mom;
        } else {
            let denom = ms + params.epsilon;
            let momi = row.s1_off + j;
            let mom = ld(S1_BUF, momi) * params.momentum + lr * g / sqrt(denom);
            st(S1_BUF, momi, mom);
            x = x - mom;
        }
    } else if (OPT_KIND == OPT_ADAM || OPT_KIND == OPT_ADAMW) {
        if (OPT_KIND == OPT_ADAMW) {
            x = x - params.weight_decay * x;
        }
        let mi = row.s0_off + j;
        let vj = row.s1_off + j;
        var m = ld(S0_BUF, mi);
        var v = ld(S1_BUF, vj);
        m = m + (g - m) * params.one_minus_a;
        v = v + (g * g - v) * params.one_minus_b;
        st(S0_BUF, mi, m);
        st(S1_BUF, vj, v);
        x = x - lr * m / (sqrt(v) + params.epsilon);
    }
    if (row.constraint == CONSTRAINT_CLAMP) {
        x = clamp(x, V(row.lo), V(row.hi));
    }
    st(VAR_BUF, vi, x);
}

@group(0) @binding(2) var<storage, read> grad: array<V>;
@group(0) @binding(3) var<storage, read_write> w0: array<V>;
@group(0) @binding(4) var<storage, read_write> w1: array<V>;
@group(0) @binding(5) var<storage, read_write> w2: array<V>;
@group(0) @binding(6) var<storage, read_write> w3: array<V>;
// The row of each workgroup: rows start at multiples of the workgroup size in the
// dispatch (the host pads), so one load replaces a search over the rows.
@group(0) @binding(7) var<storage, read> tile_rows: array<u32>;

fn ld(b: u32, i: u32) -> V {
    if (b == 0u) {
        return w0[i];
    } else if (b == 1u) {
        return w1[i];
    } else if (b == 2u) {
        return w2[i];
    }
    return w3[i];
}

fn st(b: u32, i: u32, x: V) {
    if (b == 0u) {
        w0[i] = x;
    } else if (b == 1u) {
        w1[i] = x;
    } else if (b == 2u) {
        w2[i] = x;
    } else {
        w3[i] = x;
    }
}

// The update of invocation `lid` of workgroup (`wid`, of `nwg`) in workgroups of `wg`.
fn optim_at(wid: vec3<u32>, nwg: vec3<u32>, lid: u32, wg: u32) {
    let tile = wid.y * nwg.x + wid.x;
    let e = tile * wg + lid;
    if (e >= params.total) {
        return;
    }
    let row = rows[tile_rows[tile]];
    let j = e - row.start;
    if (j >= row.count) {
        return;
    }
    optim_update(row, j);
}
