//! Plain-data rows and parameter blocks of the kernels (`#[repr(C)]`, field for field the
//! WGSL structs) and the host-side helpers that lay a dispatch out: packing, work items,
//! tile tables, rebasing, dispatch sizes.

use bytemuck::{Pod, Zeroable};

use crate::{DTYPE_BF16, DTYPE_F16, ITEM_ELEMENTS, LAYOUT_GENERAL, MAX_WORKGROUPS_PER_DIMENSION, WORKGROUP_SIZE};

/// One row of the optimizer dispatch (48 bytes, the WGSL `struct OptimRow`). Offsets and
/// `count` are in the kernel's units: words and elements for `optim.wgsl`, groups of 4
/// words and 4 elements for `optim4.wgsl` (whose rows start at multiples of 4 words).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct OptimRow {
    /// Offset of the variable chunk in its binding.
    pub var_off: u32,
    /// Offset of the gradient.
    pub grad_off: u32,
    /// Offset of slot 0.
    pub s0_off: u32,
    /// Offset of slot 1.
    pub s1_off: u32,
    /// Offset of slot 2.
    pub s2_off: u32,
    /// Elements (or groups of 4).
    pub count: u32,
    /// First invocation of the row in the dispatch, a multiple of the workgroup size (see
    /// [`optim_tiles`](crate::optim_tiles)).
    pub start: u32,
    /// `CONSTRAINT_*`.
    pub constraint: u32,
    /// Clamp lower bound.
    pub lo: f32,
    /// Clamp upper bound.
    pub hi: f32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// Uniform of the optimizer dispatch (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct OptimParams {
    /// Rows.
    pub num_rows: u32,
    /// Elements.
    pub total: u32,
    /// Learning rate (Adam: bias-corrected `lr_t`).
    pub lr: f32,
    /// Momentum or beta1.
    pub momentum: f32,
    /// `1 - decay` or `1 - beta1`.
    pub one_minus_a: f32,
    /// `1 - beta2`.
    pub one_minus_b: f32,
    /// Epsilon.
    pub epsilon: f32,
    /// AdamW weight decay.
    pub weight_decay: f32,
}

/// One row of the norm-constraint dispatch (96 bytes, the WGSL `struct NormRow`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct NormRow {
    /// Word offset of the variable chunk.
    pub var_off: u32,
    /// Groups.
    pub groups: u32,
    /// First group of the row in the dispatch.
    pub start: u32,
    /// `NORM_*`.
    pub kind: u32,
    /// Kept dimensions (groups; last fastest; unused = 1).
    pub kept_dims: [u32; 4],
    /// Their strides in elements.
    pub kept_strides: [u32; 4],
    /// Reduced dimensions (members of a group; unused = 1).
    pub red_dims: [u32; 4],
    /// Their strides.
    pub red_strides: [u32; 4],
    /// max_value.
    pub max_value: f32,
    /// min_value.
    pub min_value: f32,
    /// rate.
    pub rate: f32,
    /// Padding.
    pub _pad: u32,
}

/// Uniform of the norm, reduce and update dispatches (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct RowParams {
    /// Rows.
    pub num_rows: u32,
    /// Work items (groups, segments or elements).
    pub total: u32,
    /// Padding.
    pub _pad: [u32; 2],
}

/// One row of the reduce dispatch (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct ReduceRow {
    /// Word offset of the values.
    pub off: u32,
    /// Elements.
    pub count: u32,
    /// First segment of the row in the dispatch.
    pub start: u32,
    /// Index of the row's first segment in the output (2 words per segment).
    pub out_seg: u32,
}

/// One row of the update dispatch (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct UpdateRow {
    /// Word offset in the destination.
    pub dst_off: u32,
    /// Word offset in the source.
    pub src_off: u32,
    /// Elements.
    pub count: u32,
    /// First element of the row in the dispatch.
    pub start: u32,
}

/// One row of the init kernel's descriptor table (binding 0 of `init_main`): one
/// contiguous chunk of one variable. 16 `u32` words, 64 bytes, field for field the WGSL
/// `struct InitDesc`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct InitDesc {
    /// `KIND_*`.
    pub kind: u32,
    /// `DTYPE_*`.
    pub dtype: u32,
    /// Word offset of the chunk's first element in the output binding.
    pub out_offset: u32,
    /// Elements in the chunk.
    pub count: u32,
    /// Own (row-major, shard-local) index of the chunk's first element; even for 16-bit dtypes.
    pub first: u32,
    /// First workgroup of the row in the dispatch (exclusive prefix sum; [`assign_workgroups`]).
    pub wg_start: u32,
    /// Own elements per outer step of the shard's slice axis (`own[d] * inner`, >= 1).
    pub own_block: u32,
    /// Low word of full elements per outer step (`full[d] * inner`).
    pub full_block_lo: u32,
    /// High word of `full_block`.
    pub full_block_hi: u32,
    /// Low word of the full index of the shard's first element (`offset[d] * inner`);
    /// after [`rebase_rows`] for a layout below [`LAYOUT_GENERAL`], of the row's first
    /// element.
    pub base_lo: u32,
    /// High word of `base`.
    pub base_hi: u32,
    /// Own columns (identity only).
    pub cols: u32,
    /// Philox key, word 0.
    pub key0: u32,
    /// Philox key, word 1.
    pub key1: u32,
    /// First kind parameter.
    pub p0: u32,
    /// Second kind parameter.
    pub p1: u32,
}

impl InitDesc {
    /// `base` (`base_lo`, `base_hi`) as one value.
    pub fn base(&self) -> u64 {
        u64::from(self.base_lo) | (u64::from(self.base_hi) << 32)
    }

    /// Sets `base_lo` and `base_hi` to `base`.
    pub fn set_base(&mut self, base: u64) {
        self.base_lo = base as u32;
        self.base_hi = (base >> 32) as u32;
    }

    /// `full_block` (`full_block_lo`, `full_block_hi`) as one value.
    pub fn full_block(&self) -> u64 {
        u64::from(self.full_block_lo) | (u64::from(self.full_block_hi) << 32)
    }

    /// The full-shape index of own element `own` by the row's index map (`own_block`,
    /// `full_block`, `base`; the kernel's `full_index`).
    pub fn full_index(&self, own: u64) -> u64 {
        let ob = u64::from(self.own_block.max(1));
        (own / ob).wrapping_mul(self.full_block()).wrapping_add(self.base()).wrapping_add(own % ob)
    }
}

/// Binding 2 of `init_main` (a uniform buffer, 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct InitParams {
    /// Rows in the descriptor table.
    pub num_rows: u32,
    /// One past the last workgroup of the tile table this dispatch runs (all of them:
    /// the tile table's length, [`assign_workgroups`]).
    pub total_groups: u32,
    /// Must be 0: the opaque operand of the WGSL `fence` that keeps drivers' fma
    /// contraction and reassociation from changing any rounding.
    pub zero: u32,
    /// The first workgroup of the tile table this dispatch runs (workgroup `w` of the
    /// dispatch is `first_group + w`; 0 unless a table runs in several dispatches,
    /// [`InitParams::window`]).
    pub first_group: u32,
}

impl InitParams {
    /// Parameters for `num_rows` rows and all `total_groups` workgroups of the table.
    pub fn new(num_rows: u32, total_groups: u32) -> Self {
        InitParams { num_rows, total_groups, zero: 0, first_group: 0 }
    }

    /// Parameters for workgroups `groups` of the table (a window of it).
    pub fn window(num_rows: u32, groups: std::ops::Range<u32>) -> Self {
        InitParams { num_rows, total_groups: groups.end, zero: 0, first_group: groups.start }
    }
}

/// Binding 1 of `fill_main` (a uniform buffer, 16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct FillParams {
    /// First word written.
    pub offset: u32,
    /// Words written.
    pub count: u32,
    /// The word.
    pub value: u32,
    /// Padding.
    pub _pad: u32,
}

/// Whether a dtype code packs two elements per word.
pub fn is_packed16(dtype: u32) -> bool {
    dtype == DTYPE_F16 || dtype == DTYPE_BF16
}

/// Output words of `count` elements of dtype code `dtype`.
pub fn words_for(dtype: u32, count: u64) -> u64 {
    if is_packed16(dtype) {
        count.div_ceil(2)
    } else {
        count
    }
}

/// Items of a row of `count` elements.
pub fn items_for(count: u32) -> u32 {
    count.div_ceil(ITEM_ELEMENTS)
}

/// Prepares rows for a pipeline of layout class `layout`: below [`LAYOUT_GENERAL`], each
/// row's full indices are consecutive, so `base` becomes the full index of the row's first
/// element and the kernel adds the element offset to it instead of dividing by
/// `own_block` (integer division is lane by lane on drivers without vector division).
/// Rows of a [`LAYOUT_GENERAL`] pipeline keep their index map. Call once per table.
pub fn rebase_rows(rows: &mut [InitDesc], layout: u32) {
    if layout >= LAYOUT_GENERAL {
        return;
    }
    for r in rows {
        r.set_base(r.full_index(u64::from(r.first)));
    }
}

/// Fills in `wg_start` of every row (in order; each row gets whole workgroups of `wg`
/// invocations of `items` items each: 1 for `init_main`, [`crate::PAIR_ITEMS`] for
/// `init_pair_main`) and returns the tile table: the row of each workgroup (its length is
/// the number of workgroups to run; binding 3 takes it in windows of
/// [`crate::INIT_TILE_GROUPS`], [`tile_bytes`]). `None` if the invocations do not fit in
/// `u32` (split the table into several dispatches).
pub fn assign_workgroups(rows: &mut [InitDesc], wg: u32, items: u32) -> Option<Vec<u32>> {
    let mut next: u32 = 0;
    for r in rows.iter_mut() {
        r.wg_start = next;
        next = next.checked_add(row_workgroups(r.count, wg, items))?;
    }
    next.checked_mul(wg)?;
    let mut tiles = Vec::with_capacity(next as usize);
    for (i, r) in rows.iter().enumerate() {
        tiles.extend(std::iter::repeat_n(i as u32, row_workgroups(r.count, wg, items) as usize));
    }
    Some(tiles)
}

/// Workgroups of `wg` invocations of `items` items each that a row of `count` elements
/// gets ([`assign_workgroups`]).
pub fn row_workgroups(count: u32, wg: u32, items: u32) -> u32 {
    items_for(count).div_ceil(wg.max(1).saturating_mul(items.max(1)))
}

/// Binding 3 of `init_main` for the workgroups `tiles` (a window of
/// [`assign_workgroups`]' table, at most [`crate::INIT_TILE_GROUPS`] long): one byte per
/// workgroup, its row, zero-padded to [`crate::INIT_TILE_BYTES`]. `None` if the window
/// is too long or names a row past 255.
pub fn tile_bytes(tiles: &[u32]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; crate::INIT_TILE_BYTES];
    if tiles.len() > out.len() {
        return None;
    }
    for (b, &t) in out.iter_mut().zip(tiles) {
        *b = u8::try_from(t).ok()?;
    }
    Some(out)
}

/// Workgroup counts `[x, y, 1]` covering `invocations` invocations of
/// [`WORKGROUP_SIZE`] (x at most [`MAX_WORKGROUPS_PER_DIMENSION`]; the shaders compute
/// the flat index as `(wid.y * nwg.x + wid.x) * WORKGROUP_SIZE + lid`).
pub fn dispatch_size(invocations: u32) -> [u32; 3] {
    groups_size(invocations.div_ceil(WORKGROUP_SIZE))
}

/// Workgroup counts `[x, y, 1]` for `groups` workgroups (x at most
/// [`MAX_WORKGROUPS_PER_DIMENSION`]; the flat workgroup index is `wid.y * nwg.x + wid.x`).
pub fn groups_size(groups: u32) -> [u32; 3] {
    if groups == 0 {
        return [0, 0, 1];
    }
    let x = groups.min(MAX_WORKGROUPS_PER_DIMENSION);
    [x, groups.div_ceil(x), 1]
}
