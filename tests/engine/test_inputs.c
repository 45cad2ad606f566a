/* test_inputs.c - models with several graph inputs: the producer encoding,
 * nm_forward_inputs against plain loops, the shape/count/batch messages,
 * and the consumers that take one-input models refusing by name. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "net.h"
#include "nmio.h"
#include "prune.h"
#include "shrink.h"
#include "train.h"

#define N 2
#define C 3
#define H 2
#define W 2

/* "two": inputs a and b, both (3, 2, 2); outputs sum = a + b,
 * cat = concat(b, a) along C, lin = linear(b) with bias, prod = a * b. */
static nm_model *two_inputs(void)
{
    nm_model *m = nm_model_new("two", C, H, W);
    cr_assert_not_null(m);
    snprintf(m->in_name, sizeof m->in_name, "a");
    int b = nm_model_add_input(m, "b", C, H, W);
    cr_assert_eq(b, NM_INPUT_K(1), "%s", nm_errmsg());
    int sum = nm_add_binary(m, "sum", NM_LAYER_ADD, NM_INPUT, b);
    int ins[2] = {b, NM_INPUT};
    int cat = nm_add_concat(m, "cat", ins, 2, 0);
    int lin = nm_add_linear(m, "lin", b, 2, 1);
    int prod = nm_add_binary(m, "prod", NM_LAYER_MUL, NM_INPUT, b);
    cr_assert(sum >= 0 && cat >= 0 && lin >= 0 && prod >= 0, "%s", nm_errmsg());
    float *wl = nm_f32(m->layers[lin].weight), *bl = nm_f32(m->layers[lin].bias);
    for (int i = 0; i < 2 * C; i++)
        wl[i] = 0.25f * (float)(i + 1) - 0.8f;
    bl[0] = 0.5f, bl[1] = -1.5f;
    m->n_outputs = 4;
    int outs[4] = {sum, cat, lin, prod};
    memcpy(m->outputs, outs, sizeof outs);
    return m;
}

static nm_tensor *data(int n, int c, int h, int w, double f)
{
    nm_tensor *t = nm_tensor_new4(NM_F32, 4, n, c, h, w);
    cr_assert_not_null(t);
    for (int64_t i = 0; i < t->numel; i++)
        nm_f32(t)[i] = (float)sin(f * (double)(i + 1));
    return t;
}

Test(inputs, encoding)
{
    cr_expect_eq(nm_input_index(NM_INPUT), 0);
    cr_expect_eq(nm_input_index(NM_INPUT_K(0)), 0);
    cr_expect_eq(nm_input_index(NM_INPUT_K(1)), 1);
    cr_expect_eq(nm_input_index(NM_INPUT_K(NM_MAX_GRAPH_INPUTS - 1)), NM_MAX_GRAPH_INPUTS - 1);
    cr_expect_eq(nm_input_index(NM_INPUT_K(NM_MAX_GRAPH_INPUTS)), -1);
    cr_expect_eq(nm_input_index(NM_PREV), -1, "NM_PREV is no graph input");
    cr_expect_eq(nm_input_index(0), -1);
    cr_expect_eq(nm_input_index(7), -1);
    for (int k = 1; k < NM_MAX_GRAPH_INPUTS; k++)
        cr_expect(NM_INPUT_K(k) != NM_PREV && NM_INPUT_K(k) < 0, "input %d", k);
}

Test(inputs, forward_matches_loops)
{
    nm_model *m = two_inputs();
    nm_tensor *a = data(N, C, H, W, 0.37), *b = data(N, C, H, W, 0.81);
    const nm_tensor *xs[2] = {a, b};
    nm_tensor *ys[NM_MAX_OUTPUTS];
    int n = nm_forward_inputs(m, xs, 2, ys, NM_MAX_OUTPUTS);
    cr_assert_eq(n, 4, "%s", nm_errmsg());
    const float *av = nm_f32(a), *bv = nm_f32(b);
    const float *wl = nm_f32(m->layers[2].weight), *bl = nm_f32(m->layers[2].bias);
    const int P = H * W;
    for (int s = 0; s < N; s++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < P; p++) {
                int i = (s * C + c) * P + p;
                cr_expect_float_eq(nm_f32(ys[0])[i], av[i] + bv[i], 1e-6, "sum[%d]", i);
                cr_expect_float_eq(nm_f32(ys[3])[i], av[i] * bv[i], 1e-6, "prod[%d]", i);
                /* cat: channels 0..C-1 from b, C..2C-1 from a */
                cr_expect_float_eq(nm_f32(ys[1])[(s * 2 * C + c) * P + p], bv[i], 1e-6, "cat b");
                cr_expect_float_eq(nm_f32(ys[1])[(s * 2 * C + C + c) * P + p], av[i], 1e-6, "cat a");
            }
    for (int s = 0; s < N; s++)
        for (int o = 0; o < 2; o++)
            for (int p = 0; p < P; p++) {
                double y = bl[o];
                for (int c = 0; c < C; c++)
                    y += (double)wl[o * C + c] * bv[(s * C + c) * P + p];
                cr_expect_float_eq(nm_f32(ys[2])[(s * 2 + o) * P + p], y, 1e-5, "lin[%d,%d,%d]", s, o, p);
            }
    cr_expect_eq(ys[1]->shape[1], 2 * C);
    for (int k = 0; k < n; k++)
        nm_tensor_release(ys[k]);

    /* a clone runs the same, with its inputs */
    nm_model *c = nm_model_clone(m);
    cr_assert_not_null(c);
    cr_expect_eq(nm_model_n_inputs(c), 2);
    cr_expect_str_eq(nm_model_input_name(c, 1), "b");
    cr_assert_eq(nm_forward_inputs(c, xs, 2, ys, NM_MAX_OUTPUTS), 4, "%s", nm_errmsg());
    for (int i = 0; i < N * C * P; i++)
        cr_expect_float_eq(nm_f32(ys[0])[i], av[i] + bv[i], 1e-6);
    for (int k = 0; k < 4; k++)
        nm_tensor_release(ys[k]);
    nm_model_free(c);

    /* one sample [C, H, W] per input */
    nm_tensor *a1 = nm_tensor_new4(NM_F32, 3, C, H, W, 0), *b1 = nm_tensor_new4(NM_F32, 3, C, H, W, 0);
    memcpy(nm_f32(a1), av, sizeof(float) * C * P);
    memcpy(nm_f32(b1), bv, sizeof(float) * C * P);
    const nm_tensor *x1[2] = {a1, b1};
    cr_assert_eq(nm_forward_inputs(m, x1, 2, ys, NM_MAX_OUTPUTS), 4, "%s", nm_errmsg());
    cr_expect_eq(ys[0]->shape[0], 1);
    for (int i = 0; i < C * P; i++)
        cr_expect_float_eq(nm_f32(ys[3])[i], av[i] * bv[i], 1e-6);
    for (int k = 0; k < 4; k++)
        nm_tensor_release(ys[k]);
    nm_tensor_release(a1), nm_tensor_release(b1);
    nm_tensor_release(a), nm_tensor_release(b);
    nm_model_free(m);
}

Test(inputs, count_shape_and_batch_messages)
{
    nm_model *m = two_inputs();
    nm_tensor *a = data(N, C, H, W, 0.3), *b = data(N, C, H, W, 0.5);
    nm_tensor *ys[NM_MAX_OUTPUTS];
    cr_expect_null(nm_forward(m, a));
    cr_expect(strstr(nm_errmsg(), "model 'two' takes 2 inputs ('a', 'b'), got 1"), "%s", nm_errmsg());
    cr_expect_eq(nm_forward_outputs(m, a, ys, NM_MAX_OUTPUTS), -1);
    cr_expect(strstr(nm_errmsg(), "takes 2 inputs"), "%s", nm_errmsg());

    nm_tensor *bad = data(N, C, H, W + 1, 0.5);
    const nm_tensor *xs[2] = {a, bad};
    cr_expect_eq(nm_forward_inputs(m, xs, 2, ys, NM_MAX_OUTPUTS), -1);
    cr_expect(strstr(nm_errmsg(), "input 'b' (graph input 1) [2, 3, 2, 3]"), "%s", nm_errmsg());
    cr_expect(strstr(nm_errmsg(), "f32 [N, 3, 2, 2]"), "%s", nm_errmsg());

    nm_tensor *b3 = data(N + 1, C, H, W, 0.5);
    xs[1] = b3;
    cr_expect_eq(nm_forward_inputs(m, xs, 2, ys, NM_MAX_OUTPUTS), -1);
    cr_expect(strstr(nm_errmsg(), "input 'b' of model 'two' has 3 samples but input 'a' has 2"),
              "%s", nm_errmsg());

    xs[1] = NULL;
    cr_expect_eq(nm_forward_inputs(m, xs, 2, ys, NM_MAX_OUTPUTS), -1);
    cr_expect(strstr(nm_errmsg(), "no tensor for input 'b'"), "%s", nm_errmsg());

    /* a third input after a forward: the kept executor is rebuilt */
    xs[1] = b;
    cr_assert_eq(nm_forward_inputs(m, xs, 2, ys, NM_MAX_OUTPUTS), 4, "%s", nm_errmsg());
    for (int k = 0; k < 4; k++)
        nm_tensor_release(ys[k]);
    cr_assert_eq(nm_model_add_input(m, "c", 1, 1, 4), NM_INPUT_K(2));
    cr_expect_eq(nm_forward_inputs(m, xs, 2, ys, NM_MAX_OUTPUTS), -1);
    cr_expect(strstr(nm_errmsg(), "takes 3 inputs ('a', 'b', 'c'), got 2"), "%s", nm_errmsg());
    nm_tensor *c = data(N, 1, 1, 4, 0.9);
    const nm_tensor *x3[3] = {a, b, c};
    cr_assert_eq(nm_forward_inputs(m, x3, 3, ys, NM_MAX_OUTPUTS), 4, "%s", nm_errmsg());
    for (int i = 0; i < N * C * H * W; i++)
        cr_expect_float_eq(nm_f32(ys[0])[i], nm_f32(a)[i] + nm_f32(b)[i], 1e-6);
    for (int k = 0; k < 4; k++)
        nm_tensor_release(ys[k]);
    nm_tensor_release(a), nm_tensor_release(b), nm_tensor_release(bad), nm_tensor_release(b3);
    nm_tensor_release(c);
    nm_model_free(m);
}

Test(inputs, add_input_errors)
{
    nm_model *m = nm_model_new("m", 1, 2, 2);
    cr_expect_str_eq(nm_model_input_name(m, 0), "input");
    cr_expect_null(nm_model_input_name(m, 1));
    cr_expect_eq(nm_model_add_input(m, "input", 1, 2, 2), -1);
    cr_expect(strstr(nm_errmsg(), "input name 'input' is used twice"), "%s", nm_errmsg());
    cr_expect_eq(nm_model_add_input(m, "x", 0, 2, 2), -1);
    cr_expect(strstr(nm_errmsg(), "input 'x' shape must be positive"), "%s", nm_errmsg());
    /* a layer may not read an input the model does not have */
    cr_expect_eq(nm_add_relu(m, "r", NM_INPUT_K(1), 0), -1);
    cr_expect(strstr(nm_errmsg(), "refers to graph input 1, but model 'm' has 1"), "%s", nm_errmsg());
    for (int k = 1; k < NM_MAX_GRAPH_INPUTS; k++)
        cr_assert_eq(nm_model_add_input(m, NULL, 1, 1, k), NM_INPUT_K(k), "%s", nm_errmsg());
    cr_expect_str_eq(nm_model_input_name(m, 3), "input3");
    int c, h, w;
    nm_model_input_shape(m, 5, &c, &h, &w);
    cr_expect(c == 1 && h == 1 && w == 5);
    nm_model_out_shape(m, NM_INPUT_K(7), &c, &h, &w);
    cr_expect(c == 1 && h == 1 && w == 7, "(%d, %d, %d)", c, h, w);
    cr_expect_eq(nm_model_add_input(m, "one_too_many", 1, 1, 1), -1);
    cr_expect(strstr(nm_errmsg(), "at most 16"), "%s", nm_errmsg());
    nm_model_free(m);
}

/* Consumers that model input 0 only refuse, naming the model and inputs. */
Test(inputs, one_input_consumers_refuse)
{
    nm_model *m = two_inputs();
    /* pruning groups and shrink take them (tests/prune/test_inputs_prune.c) */
    cr_expect_null(nm_net_new(m, 2, NM_NET_TRAIN));
    cr_expect(strstr(nm_errmsg(), "training: model 'two'"), "%s", nm_errmsg());
    /* ONNX export writes every input, but not one named like a layer */
    cr_assert_eq(nm_model_add_input(m, "sum", 1, 1, 1), NM_INPUT_K(2));
    cr_expect_eq(nm_onnx_save(m, "/nonexistent-dir/two.onnx", NULL, NULL), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "ONNX export: graph input 'sum' of model 'two' has the name of a layer"),
              "%s", nm_errmsg());
    cr_expect_eq(nm_safetensors_save_model(m, "/nonexistent-dir/two.safetensors"), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "safetensors model save: model 'two'"), "%s", nm_errmsg());
    /* an inference net runs it; the input buffers are the net's */
    nm_net *net = nm_net_new(m, 2, NM_NET_EVAL);
    cr_assert_not_null(net, "%s", nm_errmsg());
    cr_expect_not_null(nm_net_input_k(net, 1));
    cr_expect_not_null(nm_net_input_k(net, 2));
    cr_expect_null(nm_net_input_k(net, 3));
    cr_expect_eq(nm_net_value(net, NM_INPUT_K(1)), nm_net_input_k(net, 1));
    cr_expect_eq(nm_net_value(net, NM_INPUT), nm_net_input(net));
    nm_net_free(net);
    nm_model_free(m);
}

/* Activation sources: a layer reading input b reads a dense model input. */
Test(inputs, act_source_names_the_input)
{
    nm_model *m = two_inputs();
    nm_act_info a;
    cr_expect_eq(nm_layer_act_source(m, 2, 2, 4, 0, &a), 0);
    cr_expect_eq(a.from, NM_ACT_FROM_INPUT);
    cr_expect_eq(a.layer, -1);
    cr_expect(strstr(a.why, "model input 'b'"), "%s", a.why);
    cr_expect_eq(nm_layer_act_source(m, 0, 2, 4, 0, &a), 0);
    cr_expect_eq(a.from, NM_ACT_FROM_INPUT);
    /* the channel walk stops at any graph input */
    int out[4], through;
    cr_expect_eq(nm_model_channel_producers(m, 2, out, 4, &through), 0);
    nm_model_free(m);
}
