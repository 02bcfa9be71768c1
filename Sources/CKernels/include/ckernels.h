// A thin C layer over oneDNN for NHWC float32 tensors and Keras-layout weights.
// Swift sees plain structs and opaque handles; oneDNN's descriptors, fixed-size
// dimension arrays and layout choices stay on this side.
#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The message of the last failed call on this thread.
const char *ck_last_error(void);

/// Makes freed activation buffers reusable without returning them to the kernel: glibc would
/// otherwise mmap and unmap every large tensor, and the page faults on fresh pages cost
/// 40% of a ResNet50 forward pass here. Idempotent.
void ck_keep_freed_memory(void);

/// Line-buffers standard output, so progress reaches pipes and logs as it happens.
void ck_line_buffer_output(void);

/// A convolution whose weights are reordered once into oneDNN's preferred layout.
typedef struct ck_conv ck_conv;
typedef struct {
    int n, ih, iw, ic;                  // input, NHWC
    int oc, kh, kw, sh, sw;             // filters, kernel, strides
    int pad_t, pad_l, pad_b, pad_r;     // explicit (TensorFlow's lopsided 'same' included)
    int depthwise;                      // kernel (kh, kw, ic, 1) and oc == ic
    int has_bias;
    int relu;                           // fused ReLU epilogue
    int accumulate;                     // dst += conv(src) before the ReLU (residual add)
} ck_conv_desc;

ck_conv *ck_conv_create(const ck_conv_desc *desc);
/// kernel in Keras' HWIO layout (depthwise: (kh, kw, ic, 1)); bias may be NULL.
int ck_conv_set_weights(ck_conv *conv, const float *kernel, const float *bias);
int ck_conv_forward(ck_conv *conv, const float *src, float *dst);
void ck_conv_destroy(ck_conv *conv);

/// Gradients of a convolution (same descriptor as the forward pass; relu/accumulate ignored).
/// Weight gradients come back in Keras' layout; the data gradient only when asked for.
typedef struct ck_conv_grad ck_conv_grad;
ck_conv_grad *ck_conv_grad_create(const ck_conv_desc *desc, int data_gradient);
/// Needed before the data gradient: kernel in Keras' layout.
int ck_conv_grad_set_weights(ck_conv_grad *grad, const float *kernel);
/// diff_src, diff_bias may be NULL; diff_kernel NULL skips the weight gradient.
int ck_conv_backward(ck_conv_grad *grad, const float *src, const float *diff_dst,
                     float *diff_src, float *diff_kernel, float *diff_bias);
void ck_conv_grad_destroy(ck_conv_grad *grad);

/// 1 when the processor has AVX-512 BF16 (and the OS enables AVX-512), which native bfloat16 kernels need.
int ck_cpu_has_native_bf16(void);

/// Max or average pooling; averages divide by the in-bounds cells only (Keras' rule).
typedef struct ck_pool ck_pool;
typedef struct {
    int n, ih, iw, c;
    int kh, kw, sh, sw;
    int pad_t, pad_l, pad_b, pad_r;
    int average;
} ck_pool_desc;

ck_pool *ck_pool_create(const ck_pool_desc *desc);
int ck_pool_forward(ck_pool *pool, const float *src, float *dst);
void ck_pool_destroy(ck_pool *pool);
/// dx for images [first, first + count) from the input x and dy, as Keras differentiates pooling: an average
/// spreads over its in-bounds cells, a maximum's gradient goes to its first maximal cell (row-major).
void ck_pool_backward(const ck_pool_desc *desc, const float *x, const float *dy, float *dx, int first, int count);

/// out(m, n) = a(m, k) · w(k, n) + bias(n), optionally ReLU; w row-major as Keras stores Dense kernels.
typedef struct ck_matmul ck_matmul;
ck_matmul *ck_matmul_create(int m, int k, int n, int has_bias, int relu);
int ck_matmul_forward(ck_matmul *mm, const float *a, const float *w, const float *bias, float *out);
void ck_matmul_destroy(ck_matmul *mm);

/// Row-major C = alpha · op(A) · op(B) + beta · C on oneDNN's GEMM (trans: 'N' or 'T').
int ck_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
             const float *b, long ldb, float beta, float *c, long ldc);

/// Batch normalisation of a (rows, channels) array. Training: writes the batch mean and biased
/// variance into `mean` and `variance`; otherwise normalises with them. `scale`/`shift` per channel.
int ck_bnorm_forward(const float *src, float *dst, long rows, int channels, float epsilon, int training,
                     const float *scale, const float *shift, float *mean, float *variance);
/// Its gradients: the data gradient, and per-channel scale and shift gradients.
int ck_bnorm_backward(const float *src, const float *diff_dst, long rows, int channels, float epsilon,
                      int training, const float *scale, const float *mean, const float *variance,
                      float *diff_src, float *diff_scale, float *diff_shift);
/// diff_src = diff_dst where the ReLU output dst is positive, else 0.
int ck_relu_backward(const float *diff_dst, const float *dst, float *diff_src, size_t count);

/// out = a + b (same shape), optionally ReLU, on oneDNN's thread pool.
int ck_add(const float *a, const float *b, float *out, size_t count, int relu);
/// Channels [offset, offset + channels) of a (pixels, total) tensor: one input's share of a concatenation.
void ck_split_channels(const float *src, int total, int offset, float *dst, int channels, size_t pixels);
/// y = max(x, 0), on oneDNN's thread pool.
int ck_relu(const float *x, float *y, size_t count);
/// y = x · scale[c] + shift[c] per channel (inference BatchNorm), optionally ReLU.
int ck_channel_affine(const float *x, float *y, size_t pixels, int channels,
                      const float *scale, const float *shift, int relu);
/// Channel concatenation of `count` NHWC tensors with the same N, H, W.
int ck_concat_channels(const float *const *srcs, const int *channels, int count,
                       float *dst, size_t pixels);

void ck_zero_pad(const float *x, float *y, int n, int h, int w, int c,
                 int top, int bottom, int left, int right);
void ck_global_pool(const float *x, float *y, int n, int hw, int c, int use_max);
void ck_softmax(float *x, int rows, int cols);

#ifdef __cplusplus
}
#endif
#endif
