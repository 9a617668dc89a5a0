// Prelude of the row-table kernels (norm, reduce, update): a dispatch covers many rows
// (one per variable chunk), each owning the invocations from its `start`. The shader
// that includes this prelude declares `rows: array<Row>` whose element has a `start: u32`
// field, sorted by `start`, and `params` with a `num_rows: u32` field.

// The row that owns invocation `e`: the last row whose `start` is <= e.
fn find_row(e: u32) -> u32 {
    var lo = 0u;
    var hi = params.num_rows;
    while (hi - lo > 1u) {
        let mid = (lo + hi) / 2u;
        if (rows[mid].start <= e) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}
