// Shape, indexing and joining operations.
#include "shim.h"

using upt::T;

namespace {
int fill_list(upt_tensor *out, int32_t capacity, int32_t *count, std::vector<at::Tensor> &&parts) {
  TORCH_CHECK(static_cast<int64_t>(parts.size()) <= capacity, "split: ", parts.size(),
              " pieces do not fit in ", capacity, " slots");
  *count = static_cast<int32_t>(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) out[i] = upt::wrap(std::move(parts[i]));
  return 0;
}

c10::List<c10::optional<at::Tensor>> index_list(const upt_tensor *indices, int32_t n) {
  c10::List<c10::optional<at::Tensor>> l;
  l.reserve(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) l.push_back(upt::opt(indices[i]));
  return l;
}
}  // namespace

extern "C" {

int upt_reshape(upt_tensor *out, upt_tensor t, const int64_t *sizes, int32_t n) {
  UPT_OUT(T(t).reshape(upt::ints(sizes, n)))
}
int upt_view(upt_tensor *out, upt_tensor t, const int64_t *sizes, int32_t n) {
  UPT_OUT(T(t).view(upt::ints(sizes, n)))
}
int upt_permute(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n) {
  UPT_OUT(T(t).permute(upt::ints(dims, n)))
}
int upt_transpose(upt_tensor *out, upt_tensor t, int64_t d0, int64_t d1) {
  UPT_OUT(T(t).transpose(d0, d1))
}
int upt_squeeze(upt_tensor *out, upt_tensor t) { UPT_OUT(T(t).squeeze()) }
int upt_squeeze_dim(upt_tensor *out, upt_tensor t, int64_t dim) { UPT_OUT(T(t).squeeze(dim)) }
int upt_unsqueeze(upt_tensor *out, upt_tensor t, int64_t dim) { UPT_OUT(T(t).unsqueeze(dim)) }
int upt_flatten(upt_tensor *out, upt_tensor t, int64_t start, int64_t end) {
  UPT_OUT(T(t).flatten(start, end))
}
int upt_expand(upt_tensor *out, upt_tensor t, const int64_t *sizes, int32_t n) {
  UPT_OUT(T(t).expand(upt::ints(sizes, n)))
}
int upt_contiguous(upt_tensor *out, upt_tensor t) { UPT_OUT(T(t).contiguous()) }
int upt_narrow(upt_tensor *out, upt_tensor t, int64_t dim, int64_t start, int64_t length) {
  UPT_OUT(T(t).narrow(dim, start, length))
}
int upt_slice(upt_tensor *out, upt_tensor t, int64_t dim, int64_t start, int64_t end,
              int64_t step) {
  UPT_OUT(T(t).slice(dim, start, end, step))
}
int upt_select(upt_tensor *out, upt_tensor t, int64_t dim, int64_t index) {
  UPT_OUT(T(t).select(dim, index))
}
int upt_index_select(upt_tensor *out, upt_tensor t, int64_t dim, upt_tensor index) {
  UPT_OUT(T(t).index_select(dim, T(index)))
}
int upt_index(upt_tensor *out, upt_tensor t, const upt_tensor *indices, int32_t n) {
  UPT_OUT(at::index(T(t), index_list(indices, n)))
}
int upt_index_put(upt_tensor *out, upt_tensor t, const upt_tensor *indices, int32_t n,
                  upt_tensor values, bool accumulate) {
  UPT_OUT(at::index_put(T(t), index_list(indices, n), T(values), accumulate))
}
int upt_gather(upt_tensor *out, upt_tensor t, int64_t dim, upt_tensor index) {
  UPT_OUT(T(t).gather(dim, T(index)))
}
int upt_scatter(upt_tensor *out, upt_tensor t, int64_t dim, upt_tensor index, upt_tensor src) {
  UPT_OUT(T(t).scatter(dim, T(index), T(src)))
}
int upt_scatter_add(upt_tensor *out, upt_tensor t, int64_t dim, upt_tensor index,
                    upt_tensor src) {
  UPT_OUT(T(t).scatter_add(dim, T(index), T(src)))
}
int upt_masked_select(upt_tensor *out, upt_tensor t, upt_tensor mask) {
  UPT_OUT(T(t).masked_select(T(mask)))
}
int upt_masked_fill(upt_tensor *out, upt_tensor t, upt_tensor mask, upt_scalar value) {
  UPT_OUT(T(t).masked_fill(T(mask), upt::scalar(value)))
}
int upt_where(upt_tensor *out, upt_tensor cond, upt_tensor a, upt_tensor b) {
  UPT_OUT(at::where(T(cond), T(a), T(b)))
}
int upt_nonzero(upt_tensor *out, upt_tensor t) { UPT_OUT(T(t).nonzero()) }
int upt_cat(upt_tensor *out, const upt_tensor *ts, int32_t n, int64_t dim) {
  UPT_OUT(at::cat(upt::list(ts, n), dim))
}
int upt_stack(upt_tensor *out, const upt_tensor *ts, int32_t n, int64_t dim) {
  UPT_OUT(at::stack(upt::list(ts, n), dim))
}
int upt_split(upt_tensor *out, int32_t capacity, int32_t *count, upt_tensor t, int64_t size,
              int64_t dim) {
  UPT_TRY(fill_list(out, capacity, count, T(t).split(size, dim)))
}
int upt_split_sizes(upt_tensor *out, int32_t capacity, int32_t *count, upt_tensor t,
                    const int64_t *sizes, int32_t n, int64_t dim) {
  UPT_TRY(fill_list(out, capacity, count, T(t).split_with_sizes(upt::ints(sizes, n), dim)))
}
int upt_chunk(upt_tensor *out, int32_t capacity, int32_t *count, upt_tensor t, int64_t chunks,
              int64_t dim) {
  UPT_TRY(fill_list(out, capacity, count, T(t).chunk(chunks, dim)))
}
int upt_flip(upt_tensor *out, upt_tensor t, const int64_t *dims, int32_t n) {
  UPT_OUT(T(t).flip(upt::ints(dims, n)))
}
int upt_roll(upt_tensor *out, upt_tensor t, const int64_t *shifts, const int64_t *dims,
             int32_t n) {
  UPT_OUT(T(t).roll(upt::ints(shifts, n), upt::ints(dims, n)))
}
int upt_pad(upt_tensor *out, upt_tensor t, const int64_t *pads, int32_t n, const char *mode,
            double value) {
  UPT_TRY({
    std::string m = mode == nullptr ? "constant" : mode;
    c10::optional<double> v;
    if (m == "constant") v = value;
    *out = upt::wrap(at::pad(T(t), upt::ints(pads, n), m, v));
  })
}
int upt_repeat(upt_tensor *out, upt_tensor t, const int64_t *repeats, int32_t n) {
  UPT_OUT(T(t).repeat(upt::ints(repeats, n)))
}
int upt_unfold_dim(upt_tensor *out, upt_tensor t, int64_t dim, int64_t size, int64_t step) {
  UPT_OUT(T(t).unfold(dim, size, step))
}
int upt_meshgrid(upt_tensor *out, const upt_tensor *ts, int32_t n, const char *indexing) {
  UPT_TRY({
    auto grids = at::meshgrid(upt::list(ts, n), indexing == nullptr ? "ij" : indexing);
    for (size_t i = 0; i < grids.size(); ++i) out[i] = upt::wrap(std::move(grids[i]));
  })
}
int upt_tril(upt_tensor *out, upt_tensor t, int64_t diagonal) { UPT_OUT(T(t).tril(diagonal)) }
int upt_triu(upt_tensor *out, upt_tensor t, int64_t diagonal) { UPT_OUT(T(t).triu(diagonal)) }
int upt_sort(upt_tensor *values, upt_tensor *indices, upt_tensor t, int64_t dim,
             bool descending) {
  UPT_TRY({
    auto r = T(t).sort(dim, descending);
    *values = upt::wrap(std::move(std::get<0>(r)));
    *indices = upt::wrap(std::move(std::get<1>(r)));
  })
}
int upt_topk(upt_tensor *values, upt_tensor *indices, upt_tensor t, int64_t k, int64_t dim,
             bool largest) {
  UPT_TRY({
    auto r = T(t).topk(k, dim, largest, true);
    *values = upt::wrap(std::move(std::get<0>(r)));
    *indices = upt::wrap(std::move(std::get<1>(r)));
  })
}

}  // extern "C"
