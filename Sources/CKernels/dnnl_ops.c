#include "ckernels.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char last_error[512];

const char *ck_last_error(void) { return last_error; }

static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return -1;
}

#define CHECK(call)                                                          \
    do {                                                                     \
        dnnl_status_t st_ = (call);                                          \
        if (st_ != dnnl_success) {                                           \
            fail("oneDNN: %s failed with status %d", #call, (int)st_);       \
            goto error;                                                      \
        }                                                                    \
    } while (0)

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;

static void make_engine(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) abort();
    if (dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) abort();
}

static void ensure_engine(void) { pthread_once(&engine_once, make_engine); }

/// A memory object whose data pointer is supplied at each call.
static dnnl_status_t borrowed_memory(dnnl_memory_t *mem, const dnnl_memory_desc_t *md) {
    return dnnl_memory_create(mem, md, engine, DNNL_MEMORY_NONE);
}

static dnnl_status_t nhwc_desc(dnnl_memory_desc_t *md, int n, int c, int h, int w) {
    dnnl_dims_t dims = {n, c, h, w};
    return dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_nhwc);
}

static dnnl_status_t run(dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args) {
    dnnl_status_t st = dnnl_primitive_execute(prim, stream, nargs, args);
    if (st != dnnl_success) return st;
    return dnnl_stream_wait(stream);
}

/* ---------------------------------------------------------------- conv */

/// The memory descriptors of a convolution, shared by forward and both backward passes.
struct conv_mds {
    dnnl_memory_desc_t src, dst, any_weights, user_weights, bias;
    dnnl_dims_t strides, pad_l, pad_r;
};

static dnnl_status_t conv_descriptors(const ck_conv_desc *d, struct conv_mds *m) {
    dnnl_status_t st;
    int oh = (d->ih + d->pad_t + d->pad_b - d->kh) / d->sh + 1;
    int ow = (d->iw + d->pad_l + d->pad_r - d->kw) / d->sw + 1;
    if ((st = nhwc_desc(&m->src, d->n, d->ic, d->ih, d->iw)) != dnnl_success) return st;
    if ((st = nhwc_desc(&m->dst, d->n, d->oc, oh, ow)) != dnnl_success) return st;
    if (d->depthwise) {
        dnnl_dims_t dims = {d->ic, 1, 1, d->kh, d->kw};
        dnnl_dims_t strides = {1, d->ic, d->ic, (dnnl_dim_t)d->kw * d->ic, d->ic};
        if ((st = dnnl_memory_desc_init_by_strides(&m->user_weights, 5, dims, dnnl_f32, strides)) != dnnl_success) return st;
        if ((st = dnnl_memory_desc_init_by_tag(&m->any_weights, 5, dims, dnnl_f32, dnnl_format_tag_any)) != dnnl_success) return st;
    } else {
        dnnl_dims_t dims = {d->oc, d->ic, d->kh, d->kw};
        if ((st = dnnl_memory_desc_init_by_tag(&m->user_weights, 4, dims, dnnl_f32, dnnl_hwio)) != dnnl_success) return st;
        if ((st = dnnl_memory_desc_init_by_tag(&m->any_weights, 4, dims, dnnl_f32, dnnl_format_tag_any)) != dnnl_success) return st;
    }
    dnnl_dims_t bias_dims = {d->oc};
    if ((st = dnnl_memory_desc_init_by_tag(&m->bias, 1, bias_dims, dnnl_f32, dnnl_a)) != dnnl_success) return st;
    m->strides[0] = d->sh; m->strides[1] = d->sw;
    m->pad_l[0] = d->pad_t; m->pad_l[1] = d->pad_l;
    m->pad_r[0] = d->pad_b; m->pad_r[1] = d->pad_r;
    return dnnl_success;
}

static dnnl_status_t reorder_primitive(dnnl_primitive_t *prim, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to) {
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL);
    if (st != dnnl_success) return st;
    st = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    return st;
}


struct ck_conv {
    ck_conv_desc d;
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst, weights, bias;
    dnnl_memory_desc_t user_weights_md;
};

static dnnl_primitive_attr_t epilogue_attr(int accumulate, int relu) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t ops = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (dnnl_post_ops_create(&ops) != dnnl_success) goto error;
    if (accumulate) CHECK(dnnl_post_ops_append_sum(ops, 1.0f));
    if (relu) CHECK(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    CHECK(dnnl_primitive_attr_set_post_ops(attr, ops));
    dnnl_post_ops_destroy(ops);
    return attr;
error:
    if (ops) dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    return NULL;
}

ck_conv *ck_conv_create(const ck_conv_desc *d) {
    ensure_engine();
    ck_conv *c = calloc(1, sizeof *c);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (!c) { fail("out of memory"); return NULL; }
    c->d = *d;
    int oh = (d->ih + d->pad_t + d->pad_b - d->kh) / d->sh + 1;
    int ow = (d->iw + d->pad_l + d->pad_r - d->kw) / d->sw + 1;
    if (oh <= 0 || ow <= 0) { fail("convolution output would be empty (%dx%d input, %dx%d kernel)", d->ih, d->iw, d->kh, d->kw); free(c); return NULL; }
    struct conv_mds m;
    CHECK(conv_descriptors(d, &m));
    c->user_weights_md = m.user_weights;
    dnnl_convolution_desc_t cd;
    CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                             &m.src, &m.any_weights, d->has_bias ? &m.bias : NULL,
                                             &m.dst, m.strides, m.pad_l, m.pad_r));
    attr = epilogue_attr(d->accumulate, d->relu);
    if (!attr) goto error;
    CHECK(dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL));
    CHECK(dnnl_primitive_create(&c->prim, pd));
    const dnnl_memory_desc_t *weights_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    CHECK(dnnl_memory_create(&c->weights, weights_md, engine, DNNL_MEMORY_ALLOCATE));
    if (d->has_bias) CHECK(dnnl_memory_create(&c->bias, &m.bias, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(borrowed_memory(&c->src, &m.src));
    CHECK(borrowed_memory(&c->dst, &m.dst));
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return c;
error:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    ck_conv_destroy(c);
    return NULL;
}

int ck_conv_set_weights(ck_conv *c, const float *kernel, const float *bias) {
    dnnl_memory_t user = NULL;
    dnnl_primitive_t reorder = NULL;
    const dnnl_memory_desc_t *target_md;
    int result = -1;
    CHECK(dnnl_memory_get_memory_desc(c->weights, &target_md));
    CHECK(dnnl_memory_create(&user, &c->user_weights_md, engine, (void *)kernel));
    CHECK(reorder_primitive(&reorder, &c->user_weights_md, target_md));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, c->weights}};
    CHECK(run(reorder, 2, args));
    if (c->d.has_bias) {
        void *dst;
        CHECK(dnnl_memory_get_data_handle(c->bias, &dst));
        memcpy(dst, bias, sizeof(float) * (size_t)c->d.oc);
    }
    result = 0;
error:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (user) dnnl_memory_destroy(user);
    return result;
}

int ck_conv_forward(ck_conv *c, const float *src, float *dst) {
    CHECK(dnnl_memory_set_data_handle(c->src, (void *)src));
    CHECK(dnnl_memory_set_data_handle(c->dst, dst));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, c->src}, {DNNL_ARG_WEIGHTS, c->weights},
                               {DNNL_ARG_DST, c->dst}, {DNNL_ARG_BIAS, c->bias}};
    CHECK(run(c->prim, c->d.has_bias ? 4 : 3, args));
    return 0;
error:
    return -1;
}

void ck_conv_destroy(ck_conv *c) {
    if (!c) return;
    if (c->prim) dnnl_primitive_destroy(c->prim);
    if (c->src) dnnl_memory_destroy(c->src);
    if (c->dst) dnnl_memory_destroy(c->dst);
    if (c->weights) dnnl_memory_destroy(c->weights);
    if (c->bias) dnnl_memory_destroy(c->bias);
    free(c);
}

/* ---------------------------------------------------------------- conv gradients */

struct ck_conv_grad {
    ck_conv_desc d;
    dnnl_primitive_t data_prim, weights_prim, to_user;
    dnnl_memory_t src, diff_dst, diff_src, weights, diff_weights, user_diff_weights, diff_bias;
    dnnl_memory_desc_t user_weights_md;
};

ck_conv_grad *ck_conv_grad_create(const ck_conv_desc *d, int data_gradient) {
    ensure_engine();
    ck_conv_grad *g = calloc(1, sizeof *g);
    dnnl_primitive_desc_t fwd_pd = NULL, data_pd = NULL, weights_pd = NULL;
    if (!g) { fail("out of memory"); return NULL; }
    g->d = *d;
    struct conv_mds m;
    CHECK(conv_descriptors(d, &m));
    g->user_weights_md = m.user_weights;
    // Backward descriptors need the forward-training descriptor as a hint.
    dnnl_convolution_desc_t fwd, bwd_data, bwd_weights;
    CHECK(dnnl_convolution_forward_desc_init(&fwd, dnnl_forward_training, dnnl_convolution_direct, &m.src,
                                             &m.any_weights, d->has_bias ? &m.bias : NULL, &m.dst,
                                             m.strides, m.pad_l, m.pad_r));
    CHECK(dnnl_primitive_desc_create(&fwd_pd, &fwd, NULL, engine, NULL));

    CHECK(dnnl_convolution_backward_weights_desc_init(&bwd_weights, dnnl_convolution_direct, &m.src, &m.any_weights,
                                                      d->has_bias ? &m.bias : NULL, &m.dst,
                                                      m.strides, m.pad_l, m.pad_r));
    CHECK(dnnl_primitive_desc_create(&weights_pd, &bwd_weights, NULL, engine, fwd_pd));
    CHECK(dnnl_primitive_create(&g->weights_prim, weights_pd));
    const dnnl_memory_desc_t *dw_md = dnnl_primitive_desc_query_md(weights_pd, dnnl_query_diff_weights_md, 0);
    CHECK(dnnl_memory_create(&g->diff_weights, dw_md, engine, DNNL_MEMORY_ALLOCATE));
    CHECK(borrowed_memory(&g->user_diff_weights, &m.user_weights));
    CHECK(reorder_primitive(&g->to_user, dw_md, &m.user_weights));
    CHECK(borrowed_memory(&g->diff_bias, &m.bias));

    if (data_gradient) {
        CHECK(dnnl_convolution_backward_data_desc_init(&bwd_data, dnnl_convolution_direct, &m.src, &m.any_weights,
                                                       &m.dst, m.strides, m.pad_l, m.pad_r));
        CHECK(dnnl_primitive_desc_create(&data_pd, &bwd_data, NULL, engine, fwd_pd));
        CHECK(dnnl_primitive_create(&g->data_prim, data_pd));
        const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(data_pd, dnnl_query_weights_md, 0);
        CHECK(dnnl_memory_create(&g->weights, w_md, engine, DNNL_MEMORY_ALLOCATE));
        CHECK(borrowed_memory(&g->diff_src, &m.src));
    }
    CHECK(borrowed_memory(&g->src, &m.src));
    CHECK(borrowed_memory(&g->diff_dst, &m.dst));
    dnnl_primitive_desc_destroy(fwd_pd);
    dnnl_primitive_desc_destroy(weights_pd);
    if (data_pd) dnnl_primitive_desc_destroy(data_pd);
    return g;
error:
    if (fwd_pd) dnnl_primitive_desc_destroy(fwd_pd);
    if (weights_pd) dnnl_primitive_desc_destroy(weights_pd);
    if (data_pd) dnnl_primitive_desc_destroy(data_pd);
    ck_conv_grad_destroy(g);
    return NULL;
}

int ck_conv_grad_set_weights(ck_conv_grad *g, const float *kernel) {
    dnnl_memory_t user = NULL;
    dnnl_primitive_t reorder = NULL;
    const dnnl_memory_desc_t *target_md;
    int result = -1;
    if (!g->weights) return fail("this convolution gradient was created without a data gradient");
    CHECK(dnnl_memory_get_memory_desc(g->weights, &target_md));
    CHECK(dnnl_memory_create(&user, &g->user_weights_md, engine, (void *)kernel));
    CHECK(reorder_primitive(&reorder, &g->user_weights_md, target_md));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, g->weights}};
    CHECK(run(reorder, 2, args));
    result = 0;
error:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (user) dnnl_memory_destroy(user);
    return result;
}

int ck_conv_backward(ck_conv_grad *g, const float *src, const float *diff_dst,
                     float *diff_src, float *diff_kernel, float *diff_bias) {
    CHECK(dnnl_memory_set_data_handle(g->diff_dst, (void *)diff_dst));
    if (diff_src) {
        if (!g->data_prim) return fail("this convolution gradient was created without a data gradient");
        CHECK(dnnl_memory_set_data_handle(g->diff_src, diff_src));
        dnnl_exec_arg_t args[3] = {{DNNL_ARG_DIFF_DST, g->diff_dst}, {DNNL_ARG_WEIGHTS, g->weights},
                                   {DNNL_ARG_DIFF_SRC, g->diff_src}};
        CHECK(run(g->data_prim, 3, args));
    }
    if (diff_kernel) {
        CHECK(dnnl_memory_set_data_handle(g->src, (void *)src));
        float scratch_bias[1];
        int with_bias = g->d.has_bias;
        if (with_bias) CHECK(dnnl_memory_set_data_handle(g->diff_bias, diff_bias ? diff_bias : scratch_bias));
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, g->src}, {DNNL_ARG_DIFF_DST, g->diff_dst},
                                   {DNNL_ARG_DIFF_WEIGHTS, g->diff_weights}, {DNNL_ARG_DIFF_BIAS, g->diff_bias}};
        CHECK(run(g->weights_prim, with_bias ? 4 : 3, args));
        CHECK(dnnl_memory_set_data_handle(g->user_diff_weights, diff_kernel));
        dnnl_exec_arg_t back[2] = {{DNNL_ARG_FROM, g->diff_weights}, {DNNL_ARG_TO, g->user_diff_weights}};
        CHECK(run(g->to_user, 2, back));
    }
    return 0;
error:
    return -1;
}

void ck_conv_grad_destroy(ck_conv_grad *g) {
    if (!g) return;
    if (g->data_prim) dnnl_primitive_destroy(g->data_prim);
    if (g->weights_prim) dnnl_primitive_destroy(g->weights_prim);
    if (g->to_user) dnnl_primitive_destroy(g->to_user);
    dnnl_memory_t mems[] = {g->src, g->diff_dst, g->diff_src, g->weights, g->diff_weights, g->user_diff_weights, g->diff_bias};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++) if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(g);
}

/* ---------------------------------------------------------------- pooling */

struct ck_pool {
    dnnl_primitive_t prim;
    dnnl_memory_t src, dst;
};

ck_pool *ck_pool_create(const ck_pool_desc *d) {
    ensure_engine();
    ck_pool *p = calloc(1, sizeof *p);
    dnnl_primitive_desc_t pd = NULL;
    if (!p) { fail("out of memory"); return NULL; }
    int oh = (d->ih + d->pad_t + d->pad_b - d->kh) / d->sh + 1;
    int ow = (d->iw + d->pad_l + d->pad_r - d->kw) / d->sw + 1;
    if (oh <= 0 || ow <= 0) { fail("pooling output would be empty (%dx%d input, %dx%d window)", d->ih, d->iw, d->kh, d->kw); free(p); return NULL; }
    dnnl_memory_desc_t src_md, dst_md;
    CHECK(nhwc_desc(&src_md, d->n, d->c, d->ih, d->iw));
    CHECK(nhwc_desc(&dst_md, d->n, d->c, oh, ow));
    dnnl_pooling_v2_desc_t desc;
    dnnl_dims_t strides = {d->sh, d->sw}, kernel = {d->kh, d->kw}, dilation = {0, 0};
    dnnl_dims_t pad_l = {d->pad_t, d->pad_l}, pad_r = {d->pad_b, d->pad_r};
    dnnl_alg_kind_t alg = d->average ? dnnl_pooling_avg_exclude_padding : dnnl_pooling_max;
    CHECK(dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, alg, &src_md, &dst_md,
                                            strides, kernel, dilation, pad_l, pad_r));
    CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, engine, NULL));
    CHECK(dnnl_primitive_create(&p->prim, pd));
    CHECK(borrowed_memory(&p->src, &src_md));
    CHECK(borrowed_memory(&p->dst, &dst_md));
    dnnl_primitive_desc_destroy(pd);
    return p;
error:
    if (pd) dnnl_primitive_desc_destroy(pd);
    ck_pool_destroy(p);
    return NULL;
}

int ck_pool_forward(ck_pool *p, const float *src, float *dst) {
    CHECK(dnnl_memory_set_data_handle(p->src, (void *)src));
    CHECK(dnnl_memory_set_data_handle(p->dst, dst));
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_SRC, p->src}, {DNNL_ARG_DST, p->dst}};
    CHECK(run(p->prim, 2, args));
    return 0;
error:
    return -1;
}

void ck_pool_destroy(ck_pool *p) {
    if (!p) return;
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->src) dnnl_memory_destroy(p->src);
    if (p->dst) dnnl_memory_destroy(p->dst);
    free(p);
}

/* ---------------------------------------------------------------- matmul */

struct ck_matmul {
    int has_bias;
    dnnl_primitive_t prim;
    dnnl_memory_t a, w, bias, out;
};

static dnnl_status_t row_major(dnnl_memory_desc_t *md, int rows, int cols) {
    dnnl_dims_t dims = {rows, cols};
    return dnnl_memory_desc_init_by_tag(md, 2, dims, dnnl_f32, dnnl_ab);
}

ck_matmul *ck_matmul_create(int m, int k, int n, int has_bias, int relu) {
    ensure_engine();
    ck_matmul *mm = calloc(1, sizeof *mm);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    if (!mm) { fail("out of memory"); return NULL; }
    mm->has_bias = has_bias;
    dnnl_memory_desc_t a_md, w_md, b_md, out_md;
    CHECK(row_major(&a_md, m, k));
    CHECK(row_major(&w_md, k, n));
    CHECK(row_major(&b_md, 1, n));
    CHECK(row_major(&out_md, m, n));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &a_md, &w_md, has_bias ? &b_md : NULL, &out_md));
    attr = epilogue_attr(0, relu);
    if (!attr) goto error;
    CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL));
    CHECK(dnnl_primitive_create(&mm->prim, pd));
    CHECK(borrowed_memory(&mm->a, &a_md));
    CHECK(borrowed_memory(&mm->w, &w_md));
    CHECK(borrowed_memory(&mm->bias, &b_md));
    CHECK(borrowed_memory(&mm->out, &out_md));
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    return mm;
error:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    ck_matmul_destroy(mm);
    return NULL;
}

int ck_matmul_forward(ck_matmul *mm, const float *a, const float *w, const float *bias, float *out) {
    CHECK(dnnl_memory_set_data_handle(mm->a, (void *)a));
    CHECK(dnnl_memory_set_data_handle(mm->w, (void *)w));
    CHECK(dnnl_memory_set_data_handle(mm->out, out));
    if (mm->has_bias) CHECK(dnnl_memory_set_data_handle(mm->bias, (void *)bias));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, mm->a}, {DNNL_ARG_WEIGHTS, mm->w},
                               {DNNL_ARG_DST, mm->out}, {DNNL_ARG_BIAS, mm->bias}};
    CHECK(run(mm->prim, mm->has_bias ? 4 : 3, args));
    return 0;
error:
    return -1;
}

void ck_matmul_destroy(ck_matmul *mm) {
    if (!mm) return;
    if (mm->prim) dnnl_primitive_destroy(mm->prim);
    if (mm->a) dnnl_memory_destroy(mm->a);
    if (mm->w) dnnl_memory_destroy(mm->w);
    if (mm->bias) dnnl_memory_destroy(mm->bias);
    if (mm->out) dnnl_memory_destroy(mm->out);
    free(mm);
}

int ck_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
             const float *b, long ldb, float beta, float *c, long ldc) {
    dnnl_status_t st = dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return st == dnnl_success ? 0 : fail("oneDNN: sgemm %ldx%ldx%ld failed with status %d", m, n, k, (int)st);
}

static dnnl_status_t flat_desc(dnnl_memory_desc_t *md, size_t count) {
    dnnl_dims_t dims = {(dnnl_dim_t)count};
    return dnnl_memory_desc_init_by_tag(md, 1, dims, dnnl_f32, dnnl_a);
}

/// Runs a one-shot primitive described by `desc` (hint: forward descriptor for backward ones).
static int run_once(const_dnnl_op_desc_t desc, const_dnnl_op_desc_t hint_desc, const_dnnl_primitive_attr_t attr,
                    int nargs, const dnnl_memory_desc_t **mds, const int *kinds, void **handles) {
    dnnl_primitive_desc_t pd = NULL, hint = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t mems[12] = {0};
    dnnl_exec_arg_t args[12];
    int result = -1;
    if (hint_desc) CHECK(dnnl_primitive_desc_create(&hint, hint_desc, NULL, engine, NULL));
    CHECK(dnnl_primitive_desc_create(&pd, desc, attr, engine, hint));
    CHECK(dnnl_primitive_create(&prim, pd));
    for (int i = 0; i < nargs; i++) {
        CHECK(dnnl_memory_create(&mems[i], mds[i], engine, handles[i]));
        args[i].arg = kinds[i];
        args[i].memory = mems[i];
    }
    CHECK(run(prim, nargs, args));
    result = 0;
error:
    for (int i = 0; i < nargs; i++) if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (hint) dnnl_primitive_desc_destroy(hint);
    return result;
}

/* ---------------------------------------------------------------- one-shot ops
 * Created per call: oneDNN's primitive cache makes repeated shapes cheap. */

int ck_add(const float *a, const float *b, float *out, size_t count, int relu) {
    ensure_engine();
    dnnl_memory_desc_t md;
    dnnl_binary_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    CHECK(flat_desc(&md, count));
    CHECK(dnnl_binary_desc_init(&desc, dnnl_binary_add, &md, &md, &md));
    attr = epilogue_attr(0, relu);
    if (!attr) return -1;
    const dnnl_memory_desc_t *mds[3] = {&md, &md, &md};
    int kinds[3] = {DNNL_ARG_SRC_0, DNNL_ARG_SRC_1, DNNL_ARG_DST};
    void *handles[3] = {(void *)a, (void *)b, out};
    int result = run_once(&desc, NULL, attr, 3, mds, kinds, handles);
    dnnl_primitive_attr_destroy(attr);
    return result;
error:
    return -1;
}

int ck_concat_channels(const float *const *srcs, const int *channels, int count,
                       float *dst, size_t pixels) {
    ensure_engine();
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_desc_t *mds = calloc((size_t)count, sizeof *mds);
    dnnl_memory_t *mems = calloc((size_t)count + 1, sizeof *mems);
    dnnl_exec_arg_t *args = calloc((size_t)count + 1, sizeof *args);
    int result = -1, total = 0;
    if (!mds || !mems || !args) { fail("out of memory"); goto error; }
    // Pixels (N·H·W) become one spatial axis: concatenation only cares about channels.
    for (int i = 0; i < count; i++) {
        CHECK(nhwc_desc(&mds[i], 1, channels[i], 1, (int)pixels));
        CHECK(dnnl_memory_create(&mems[i], &mds[i], engine, (void *)srcs[i]));
        args[i].arg = DNNL_ARG_MULTIPLE_SRC + i;
        args[i].memory = mems[i];
        total += channels[i];
    }
    dnnl_memory_desc_t dst_md;
    CHECK(nhwc_desc(&dst_md, 1, total, 1, (int)pixels));
    CHECK(dnnl_concat_primitive_desc_create(&pd, &dst_md, count, 1, mds, NULL, engine));
    CHECK(dnnl_primitive_create(&prim, pd));
    CHECK(dnnl_memory_create(&mems[count], &dst_md, engine, dst));
    args[count].arg = DNNL_ARG_DST;
    args[count].memory = mems[count];
    CHECK(run(prim, count + 1, args));
    result = 0;
error:
    if (mems) for (int i = 0; i <= count; i++) if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    free(mds);
    free(mems);
    free(args);
    return result;
}

/* ---------------------------------------------------------------- training helpers */

int ck_relu(const float *x, float *y, size_t count) {
    ensure_engine();
    dnnl_memory_desc_t md;
    dnnl_eltwise_desc_t desc;
    CHECK(flat_desc(&md, count));
    CHECK(dnnl_eltwise_forward_desc_init(&desc, dnnl_forward_inference, dnnl_eltwise_relu, &md, 0.0f, 0.0f));
    const dnnl_memory_desc_t *mds[2] = {&md, &md};
    int kinds[2] = {DNNL_ARG_SRC, DNNL_ARG_DST};
    void *handles[2] = {(void *)x, y};
    return run_once(&desc, NULL, NULL, 2, mds, kinds, handles);
error:
    return -1;
}

int ck_relu_backward(const float *diff_dst, const float *dst, float *diff_src, size_t count) {
    ensure_engine();
    dnnl_memory_desc_t md;
    dnnl_eltwise_desc_t fwd, bwd;
    CHECK(flat_desc(&md, count));
    CHECK(dnnl_eltwise_forward_desc_init(&fwd, dnnl_forward_training, dnnl_eltwise_relu_use_dst_for_bwd, &md, 0.0f, 0.0f));
    CHECK(dnnl_eltwise_backward_desc_init(&bwd, dnnl_eltwise_relu_use_dst_for_bwd, &md, &md, 0.0f, 0.0f));
    const dnnl_memory_desc_t *mds[3] = {&md, &md, &md};
    int kinds[3] = {DNNL_ARG_DIFF_DST, DNNL_ARG_DST, DNNL_ARG_DIFF_SRC};
    void *handles[3] = {(void *)diff_dst, (void *)dst, diff_src};
    return run_once(&bwd, &fwd, NULL, 3, mds, kinds, handles);
error:
    return -1;
}

static dnnl_status_t rows_desc(dnnl_memory_desc_t *md, long rows, int channels) {
    return nhwc_desc(md, (int)rows, channels, 1, 1);
}

int ck_bnorm_forward(const float *src, float *dst, long rows, int channels, float epsilon, int training,
                     const float *scale, const float *shift, float *mean, float *variance) {
    ensure_engine();
    dnnl_memory_desc_t data, vec;
    dnnl_batch_normalization_desc_t desc;
    CHECK(rows_desc(&data, rows, channels));
    CHECK(flat_desc(&vec, (size_t)channels));
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (training ? 0 : dnnl_use_global_stats);
    CHECK(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_training, &data, epsilon, flags));
    const dnnl_memory_desc_t *mds[6] = {&data, &data, &vec, &vec, &vec, &vec};
    int kinds[6] = {DNNL_ARG_SRC, DNNL_ARG_DST, DNNL_ARG_SCALE, DNNL_ARG_SHIFT, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE};
    void *handles[6] = {(void *)src, dst, (void *)scale, (void *)shift, mean, variance};
    return run_once(&desc, NULL, NULL, 6, mds, kinds, handles);
error:
    return -1;
}

int ck_bnorm_backward(const float *src, const float *diff_dst, long rows, int channels, float epsilon,
                      int training, const float *scale, const float *mean, const float *variance,
                      float *diff_src, float *diff_scale, float *diff_shift) {
    ensure_engine();
    dnnl_memory_desc_t data, vec;
    dnnl_batch_normalization_desc_t fwd, bwd;
    CHECK(rows_desc(&data, rows, channels));
    CHECK(flat_desc(&vec, (size_t)channels));
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (training ? 0 : dnnl_use_global_stats);
    CHECK(dnnl_batch_normalization_forward_desc_init(&fwd, dnnl_forward_training, &data, epsilon, flags));
    CHECK(dnnl_batch_normalization_backward_desc_init(&bwd, dnnl_backward, &data, &data, epsilon, flags));
    const dnnl_memory_desc_t *mds[9] = {&data, &data, &vec, &vec, &vec, &data, &vec, &vec, &vec};
    int kinds[9] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_SCALE, DNNL_ARG_MEAN, DNNL_ARG_VARIANCE,
                    DNNL_ARG_DIFF_SRC, DNNL_ARG_DIFF_SCALE, DNNL_ARG_DIFF_SHIFT, DNNL_ARG_SHIFT};
    void *handles[9] = {(void *)src, (void *)diff_dst, (void *)scale, (void *)mean, (void *)variance,
                        diff_src, diff_scale, diff_shift, (void *)scale};
    // oneDNN 2.6 rejects a backward pass with use_shift unless SHIFT is bound too (its value is unused).
    return run_once(&bwd, &fwd, NULL, 9, mds, kinds, handles);
error:
    return -1;
}
