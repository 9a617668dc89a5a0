// The example's own kernels: forward and backward passes of a small MLP whose weights
// are varscope variables (group 1, bound at their byte ranges in varscope's buffers)
// and whose gradients are varscope `Gradients` ranges (group 2). Data and activations
// live in scratch buffers from the session's pool (group 0). One invocation per output
// element; each entry point uses at most 8 storage buffers (WebGPU's default per-stage
// limit) and is built with an automatic layout holding only the bindings it uses.
//
// Model (N points, 2 inputs, H tower units, H2 hidden units, C classes):
//   ha = relu(xa W1 + b1), hb = relu(xb W1 + b1)     (one tower, shared: same W1, b1)
//   z  = relu([ha, hb] W2 + b2)                      (W2 partitioned: W2a = rows 0..H, W2b = rows H..2H)
//   logits = z W3 + b3; loss = mean cross-entropy    (+ l2 * sum(W2^2), its gradient added here)

const WORKGROUP_SIZE: u32 = 64u;
const MAX_CLASSES: u32 = 8u;

// Sizes and scalars: pipeline-overridable constants, set when the pipelines are built.
override DIM_N: u32;
override DIM_H: u32;
override DIM_H2: u32;
override DIM_C: u32;
// L2 regularizer scale of W2 (loss l2 * sum(w^2), gradient 2 * l2 * w).
override L2: f32;
// 1 / N.
override INV_N: f32;

@group(0) @binding(1) var<storage, read> xa: array<f32>;
@group(0) @binding(2) var<storage, read> xb: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> ha: array<f32>;
@group(0) @binding(5) var<storage, read_write> hb: array<f32>;
@group(0) @binding(6) var<storage, read_write> z: array<f32>;
@group(0) @binding(7) var<storage, read_write> dlog: array<f32>;
// Per point: cross-entropy, 1.0 if the prediction is right.
@group(0) @binding(8) var<storage, read_write> stats: array<f32>;
@group(0) @binding(9) var<storage, read_write> dz: array<f32>;
@group(0) @binding(10) var<storage, read_write> dha: array<f32>;
@group(0) @binding(11) var<storage, read_write> dhb: array<f32>;

@group(1) @binding(0) var<storage, read> w1: array<f32>;
@group(1) @binding(1) var<storage, read> b1: array<f32>;
@group(1) @binding(2) var<storage, read> w2a: array<f32>;
@group(1) @binding(3) var<storage, read> w2b: array<f32>;
@group(1) @binding(4) var<storage, read> b2: array<f32>;
@group(1) @binding(5) var<storage, read> w3: array<f32>;
@group(1) @binding(6) var<storage, read> b3: array<f32>;

@group(2) @binding(0) var<storage, read_write> gw1: array<f32>;
@group(2) @binding(1) var<storage, read_write> gb1: array<f32>;
@group(2) @binding(2) var<storage, read_write> gw2a: array<f32>;
@group(2) @binding(3) var<storage, read_write> gw2b: array<f32>;
@group(2) @binding(4) var<storage, read_write> gb2: array<f32>;
@group(2) @binding(5) var<storage, read_write> gw3: array<f32>;
@group(2) @binding(6) var<storage, read_write> gb3: array<f32>;

// ha, hb: one invocation per (point, tower unit).
@compute @workgroup_size(WORKGROUP_SIZE)
fn fwd_tower(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= DIM_N * DIM_H) {
        return;
    }
    let n = i / DIM_H;
    let j = i % DIM_H;
    let a = xa[2u * n] * w1[j] + xa[2u * n + 1u] * w1[DIM_H + j] + b1[j];
    let b = xb[2u * n] * w1[j] + xb[2u * n + 1u] * w1[DIM_H + j] + b1[j];
    ha[i] = max(a, 0.0);
    hb[i] = max(b, 0.0);
}

// z: one invocation per (point, hidden unit).
@compute @workgroup_size(WORKGROUP_SIZE)
fn fwd_hidden(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= DIM_N * DIM_H2) {
        return;
    }
    let n = i / DIM_H2;
    let k = i % DIM_H2;
    var s = b2[k];
    for (var j = 0u; j < DIM_H; j = j + 1u) {
        s = s + ha[n * DIM_H + j] * w2a[j * DIM_H2 + k] + hb[n * DIM_H + j] * w2b[j * DIM_H2 + k];
    }
    z[i] = max(s, 0.0);
}

// Logits, softmax, loss, accuracy and d loss / d logits: one invocation per point.
@compute @workgroup_size(WORKGROUP_SIZE)
fn fwd_output(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = gid.x;
    if (n >= DIM_N) {
        return;
    }
    var logits: array<f32, MAX_CLASSES>;
    var best = 0u;
    for (var c = 0u; c < DIM_C; c = c + 1u) {
        var s = b3[c];
        for (var k = 0u; k < DIM_H2; k = k + 1u) {
            s = s + z[n * DIM_H2 + k] * w3[k * DIM_C + c];
        }
        logits[c] = s;
        if (s > logits[best]) {
            best = c;
        }
    }
    let m = logits[best];
    var sum = 0.0;
    for (var c = 0u; c < DIM_C; c = c + 1u) {
        sum = sum + exp(logits[c] - m);
    }
    let y = labels[n];
    for (var c = 0u; c < DIM_C; c = c + 1u) {
        var p = exp(logits[c] - m) / sum;
        if (c == y) {
            p = p - 1.0;
        }
        dlog[n * DIM_C + c] = p * INV_N;
    }
    stats[2u * n] = log(sum) - (logits[y] - m);
    stats[2u * n + 1u] = select(0.0, 1.0, best == y);
}

// d W3 (H2 x C) then d b3 (C): one invocation per element.
@compute @workgroup_size(WORKGROUP_SIZE)
fn bwd_output(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let nw = DIM_H2 * DIM_C;
    if (i < nw) {
        let k = i / DIM_C;
        let c = i % DIM_C;
        var s = 0.0;
        for (var n = 0u; n < DIM_N; n = n + 1u) {
            s = s + z[n * DIM_H2 + k] * dlog[n * DIM_C + c];
        }
        gw3[i] = s;
    } else if (i < nw + DIM_C) {
        let c = i - nw;
        var s = 0.0;
        for (var n = 0u; n < DIM_N; n = n + 1u) {
            s = s + dlog[n * DIM_C + c];
        }
        gb3[c] = s;
    }
}

// d z (through the relu): one invocation per (point, hidden unit).
@compute @workgroup_size(WORKGROUP_SIZE)
fn bwd_hidden_act(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= DIM_N * DIM_H2) {
        return;
    }
    let n = i / DIM_H2;
    let k = i % DIM_H2;
    var s = 0.0;
    for (var c = 0u; c < DIM_C; c = c + 1u) {
        s = s + dlog[n * DIM_C + c] * w3[k * DIM_C + c];
    }
    dz[i] = select(0.0, s, z[i] > 0.0);
}

// d W2a, d W2b (H x H2 each, plus the L2 term) then d b2 (H2).
@compute @workgroup_size(WORKGROUP_SIZE)
fn bwd_hidden(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let nw = DIM_H * DIM_H2;
    if (i < nw) {
        let j = i / DIM_H2;
        let k = i % DIM_H2;
        var sa = 0.0;
        var sb = 0.0;
        for (var n = 0u; n < DIM_N; n = n + 1u) {
            let d = dz[n * DIM_H2 + k];
            sa = sa + ha[n * DIM_H + j] * d;
            sb = sb + hb[n * DIM_H + j] * d;
        }
        gw2a[i] = sa + 2.0 * L2 * w2a[i];
        gw2b[i] = sb + 2.0 * L2 * w2b[i];
    } else if (i < nw + DIM_H2) {
        let k = i - nw;
        var s = 0.0;
        for (var n = 0u; n < DIM_N; n = n + 1u) {
            s = s + dz[n * DIM_H2 + k];
        }
        gb2[k] = s;
    }
}

// d ha, d hb (through the relus): one invocation per (point, tower unit).
@compute @workgroup_size(WORKGROUP_SIZE)
fn bwd_tower_act(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i >= DIM_N * DIM_H) {
        return;
    }
    let n = i / DIM_H;
    let j = i % DIM_H;
    var sa = 0.0;
    var sb = 0.0;
    for (var k = 0u; k < DIM_H2; k = k + 1u) {
        let d = dz[n * DIM_H2 + k];
        sa = sa + d * w2a[j * DIM_H2 + k];
        sb = sb + d * w2b[j * DIM_H2 + k];
    }
    dha[i] = select(0.0, sa, ha[i] > 0.0);
    dhb[i] = select(0.0, sb, hb[i] > 0.0);
}

// d W1 (2 x H; both uses of the shared tower add up) then d b1 (H).
@compute @workgroup_size(WORKGROUP_SIZE)
fn bwd_tower(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let nw = 2u * DIM_H;
    if (i < nw) {
        let r = i / DIM_H;
        let j = i % DIM_H;
        var s = 0.0;
        for (var n = 0u; n < DIM_N; n = n + 1u) {
            s = s + xa[2u * n + r] * dha[n * DIM_H + j] + xb[2u * n + r] * dhb[n * DIM_H + j];
        }
        gw1[i] = s;
    } else if (i < nw + DIM_H) {
        let j = i - nw;
        var s = 0.0;
        for (var n = 0u; n < DIM_N; n = n + 1u) {
            s = s + dha[n * DIM_H + j] + dhb[n * DIM_H + j];
        }
        gb1[j] = s;
    }
}
