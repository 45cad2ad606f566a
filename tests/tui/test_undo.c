/* Undo/redo of mask changes, and the settings file. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "settings.h"
#include "undo.h"

static nm_model *two_convs(void)
{
    nm_model *m = nm_model_new("u", 3, 8, 8);
    nm_add_conv(m, "a", NM_INPUT, 4, 3, 3, 1, 1, 1, 0);
    nm_add_conv(m, "b", NM_PREV, 4, 3, 3, 1, 1, 1, 0);
    nm_model_init_weights(m, 1);
    return m;
}

Test(undo, undo_redo_restores_masks_exactly)
{
    nm_model *m = two_convs();
    undo_stack u = {0};
    undo_snap *s0 = undo_snap_take(m);           /* no masks at all */
    cr_assert(undo_snap_same(s0, m));
    nm_layer_ensure_mask(&m->layers[0]);
    nm_u8(m->layers[0].mask)[7] = 0;
    cr_assert_not(undo_snap_same(s0, m));
    undo_push(&u, s0);
    undo_snap *s1 = undo_snap_take(m);
    nm_u8(m->layers[0].mask)[8] = 0;
    nm_layer_ensure_mask(&m->layers[1]);
    undo_push(&u, s1);
    cr_assert_eq(undo_undo(&u, m), NM_OK);
    cr_assert_null(m->layers[1].mask);
    cr_assert_eq(nm_u8(m->layers[0].mask)[8], 1);
    cr_assert_eq(nm_u8(m->layers[0].mask)[7], 0);
    cr_assert_eq(undo_undo(&u, m), NM_OK);
    cr_assert_null(m->layers[0].mask, "back to no mask");
    cr_assert_eq(undo_undo(&u, m), NM_ERR);
    cr_assert_eq(undo_redo(&u, m), NM_OK);
    cr_assert_eq(nm_u8(m->layers[0].mask)[7], 0);
    cr_assert_eq(nm_u8(m->layers[0].mask)[8], 1);
    cr_assert_eq(undo_redo(&u, m), NM_OK);
    cr_assert_eq(nm_u8(m->layers[0].mask)[8], 0);
    cr_assert_not_null(m->layers[1].mask);
    cr_assert_eq(undo_redo(&u, m), NM_ERR);
    undo_clear(&u);
    nm_model_free(m);
}

Test(undo, budget_drops_oldest)
{
    nm_model *m = two_convs();
    nm_layer_ensure_mask(&m->layers[0]); /* 108 bytes per snapshot */
    undo_stack u = {0};
    u.budget = 300;
    for (int i = 0; i < 5; i++)
        undo_push(&u, undo_snap_take(m));
    cr_assert_eq(u.n_undo, 2, "300 bytes hold two 108-byte snapshots");
    undo_clear(&u);
    nm_model_free(m);
}

Test(settings, save_load_round_trip)
{
    char dir[] = "/tmp/nmlab-settings-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    setenv("XDG_CONFIG_HOME", dir, 1);
    char path[1024];
    cr_assert_not_null(settings_path("settings.conf", path, sizeof path));
    nm_settings a, b;
    settings_defaults(&a);
    a.theme_dark = 0;
    a.array_rows = 20;
    snprintf(a.last_model, sizeof a.last_model, "/x/y.safetensors");
    cr_assert_eq(settings_save(&a, path), NM_OK);
    settings_defaults(&b);
    settings_load(&b, path);
    cr_assert_eq(b.theme_dark, 0);
    cr_assert_eq(b.array_rows, 20);
    cr_assert_str_eq(b.last_model, "/x/y.safetensors");
    unlink(path);
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/nmlab", dir);
    rmdir(sub);
    rmdir(dir);
}

/* Undo brings back the declared N:M (wn:wm) with the masks, and the note
 * (the header's pruning settings); redo the pruned ones. */
Test(undo, undo_restores_declared_nm_and_note)
{
    nm_model *m = two_convs();
    char note[160] = "";
    undo_stack u = {0};
    u.note = note, u.note_len = sizeof note;
    undo_snap *s0 = undo_snap_take(m);
    undo_snap_set_note(s0, note);
    nm_layer_ensure_mask(&m->layers[1]);
    nm_u8(m->layers[1].mask)[0] = 0;
    m->layers[1].wn = 2, m->layers[1].wm = 4;
    snprintf(note, sizeof note, "| 2:4 auto");
    cr_assert_not(undo_snap_same(s0, m));
    undo_push(&u, s0);
    cr_assert_eq(undo_undo(&u, m), NM_OK);
    cr_assert_eq(m->layers[1].wn, 0, "declared N:M back to none, got %d", m->layers[1].wn);
    cr_assert_eq(m->layers[1].wm, 0);
    cr_assert_str_eq(note, "");
    cr_assert_eq(undo_redo(&u, m), NM_OK);
    cr_assert_eq(m->layers[1].wn, 2);
    cr_assert_eq(m->layers[1].wm, 4);
    cr_assert_str_eq(note, "| 2:4 auto");
    /* a change of the declared N:M alone is a change */
    undo_snap *s1 = undo_snap_take(m);
    m->layers[0].wn = 1, m->layers[0].wm = 2;
    cr_assert_not(undo_snap_same(s1, m));
    undo_snap_free(s1);
    undo_clear(&u);
    nm_model_free(m);
}
