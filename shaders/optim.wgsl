// Fused multi-tensor optimizer step: one dispatch updates every (variable, gradient,
// slots) row whose buffers are the ones bound, and applies the elementwise constraint
// (non_neg, clip_by_value) of each row after the update.
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
// Optimizer::reference_step); drivers may contract a*b+c into fma, so results agree
// with the host reference to a few ulp, not bit for bit.

const WORKGROUP_SIZE: u32 = 64u;

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
    // Word offsets of the row's first element in the variable's, gradient's and slots'
    // bindings.
    var_off: u32,
    grad_off: u32,
    s0_off: u32,
    s1_off: u32,
    s2_off: u32,
    // Elements.
    count: u32,
    // First element of the row in the dispatch: a multiple of WORKGROUP_SIZE (each row
    // starts a new workgroup; the host pads).
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
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> w0: array<f32>;
@group(0) @binding(4) var<storage, read_write> w1: array<f32>;
@group(0) @binding(5) var<storage, read_write> w2: array<f32>;
@group(0) @binding(6) var<storage, read_write> w3: array<f32>;
// The row of each workgroup: rows start at multiples of WORKGROUP_SIZE in the dispatch
// (the host pads), so one load replaces a search over the rows.
@group(0) @binding(7) var<storage, read> tile_rows: array<u32>;

fn ld(b: u32, i: u32) -> f32 {
    if (b == 0u) {
        return w0[i];
    } else if (b == 1u) {
        return w1[i];
    } else if (b == 2u) {
        return w2[i];
    }
    return w3[i];
}

fn st(b: u32, i: u32, x: f32) {
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

@compute @workgroup_size(WORKGROUP_SIZE)
fn optim_main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let tile = wid.y * nwg.x + wid.x;
    let e = tile * WORKGROUP_SIZE + lid;
    if (e >= params.total) {
        return;
    }
    let row = rows[tile_rows[tile]];
    let j = e - row.start;
    if (j >= row.count) {
        return;
    }
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
        var denom = ms + params.epsilon;
        var momi = row.s1_off + j;
        var mom = 0.0;
        if (OPT_KIND == OPT_RMSPROP_CENTERED) {
            let mgi = row.s1_off + j;
            var mg = ld(S1_BUF, mgi);
            mg = mg + (g - mg) * params.one_minus_a;
            st(S1_BUF, mgi, mg);
            denom = ms - mg * mg + params.epsilon;
            momi = row.s2_off + j;
            mom = ld(S2_BUF, momi) * params.momentum + lr * g / sqrt(denom);
            st(S2_BUF, momi, mom);
        } else {
            mom = ld(S1_BUF, momi) * params.momentum + lr * g / sqrt(denom);
            st(S1_BUF, momi, mom);
        }
        x = x - mom;
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
        x = clamp(x, row.lo, row.hi);
    }
    st(VAR_BUF, vi, x);
}
