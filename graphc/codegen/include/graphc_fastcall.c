/* graphc_fastcall: the CPython extension behind a compiled Function's fast call path.

   One generic module (built once per interpreter and NumPy, kept in graphc's cache), not
   one per graph: a ``Caller`` holds a compiled function's call plan (the inputs' dtypes and
   shapes, the run-time sizes, the parameter states, the result shapes) and, given the
   positional feeds, checks them, reads the parameters, allocates the results and runs
   the program; either the generated C entry point ``run(inputs, params, results, sizes,
   workspace)`` of the C backend (mode 0) or the generated NumPy ``compute`` (mode 1).

   The fast path only takes what it can do exactly as the Python path would: feeds that
   are NumPy arrays of the placeholder's dtype and shape, C-contiguous and aligned,
   parameter values of their dtype, every lock free. For anything else it returns None
   BEFORE changing anything, and ``Function.__call__`` runs its Python path, which
   converts what it can and raises the clear errors (name, shape, dtype).

   Updates are committed here, in C, after a successful run: no Python code runs between
   reading the parameters and writing their new values, so a SIGINT arriving during the
   call is handled by the interpreter after the call returns (the step is committed first),
   as ``graphc.step_commit.deferred_interrupts`` does on the Python path. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define GC_MAX_SLOTS 64   /* run-time sizes of one graph the fast path handles */
#define GC_MAX_ARRAYS 256 /* inputs, params and results of one graph the fast path handles */

typedef int (*gc_run_fn)(void* const*, void* const*, void* const*, const int64_t*, void*);
typedef int64_t (*gc_wsb_fn)(const int64_t*);

typedef struct {
    PyObject_HEAD
    int mode;                 /* 0: C entry point, 1: Python compute */
    gc_run_fn run;
    gc_wsb_fn wsb;
    PyObject* keep;           /* keeps the loaded library (and anything else) alive */
    PyObject* compute;        /* mode 1 */
    PyObject* workspace_for;  /* mode 1: sizes tuple -> workspace object */
    PyObject* ws_obj;         /* mode 1: workspace of ws_sizes */
    PyObject* extobj_var;     /* mode 1: NumPy's error-state context variable (or NULL) */
    PyObject* extobj_quiet;   /* mode 1: its value under np.errstate(all="ignore") */
    PyObject* lock;           /* the Function's lock */
    Py_ssize_t n_in, n_slots, n_cons, n_sizes, n_params, n_res, n_roots, n_out, n_upd;
    int structure;            /* 0 single, 1 tuple, 2 list */
    int reuse;                /* reuse unreferenced result arrays */
    int64_t gil_elements;     /* release the GIL during runs touching more elements */
    PyArray_Descr** in_descr;
    int* in_ndim;
    int64_t** in_dims;        /* >= 0 fixed size, < 0: slot -d-1 */
    int64_t* cons;            /* slot_a, slot_b (-1: fixed), fixed_b */
    int64_t* size_slot;
    PyObject** param_src;     /* a parameter's state object (value read per call) or an array */
    int* param_is_state;
    PyArray_Descr** param_descr;
    PyArray_Descr** res_descr;
    int* res_ndim;
    int64_t** res_dims;       /* per dim: coef, nsyms, slots... */
    int64_t* root_res;        /* result index of each root (outputs, then updates) */
    PyObject** upd_state;     /* state object of each update, in update order */
    Py_ssize_t n_locks;
    PyObject** locks;         /* update locks, in the global (id) order */
    PyObject* last;           /* list: last call's result arrays */
    int* upd_leaf;            /* mode 1: an update whose value is a leaf (always copied) */
    int* upd_ndim;            /* mode 1: each updated parameter's shape and type number */
    int* upd_type;
    int64_t** upd_dims;
    PyObject* getsignal;      /* _signal.getsignal, _signal.signal, SIGINT: mode 1 holds */
    PyObject* setsignal;      /* SIGINT back during a step, as step_commit does */
    PyObject* sigint;
    unsigned long main_ident;
    int pending;
    int64_t ws_sizes[GC_MAX_SLOTS];
    int ws_valid;
    void* ws;
    int64_t ws_bytes;
    long long calls;
} Caller;

static PyObject* s_value;
static PyObject* s_acquire;
static PyObject* s_release;

static void* gc_ptr(PyObject* o) { return PyLong_AsVoidPtr(o); }

static int64_t next_int(PyObject* seq, Py_ssize_t* at) {
    if (*at >= PyList_GET_SIZE(seq)) {
        PyErr_SetString(PyExc_ValueError, "fastcall plan: too short");
        return 0;
    }
    return PyLong_AsLongLong(PyList_GET_ITEM(seq, (*at)++));
}

static void Caller_dealloc(Caller* self) {
    Py_ssize_t k;
    Py_XDECREF(self->keep); Py_XDECREF(self->compute); Py_XDECREF(self->workspace_for);
    Py_XDECREF(self->ws_obj); Py_XDECREF(self->extobj_var); Py_XDECREF(self->extobj_quiet);
    Py_XDECREF(self->lock); Py_XDECREF(self->last);
    if (self->in_descr) for (k = 0; k < self->n_in; k++) Py_XDECREF(self->in_descr[k]);
    if (self->in_dims) for (k = 0; k < self->n_in; k++) free(self->in_dims[k]);
    if (self->param_src) for (k = 0; k < self->n_params; k++) Py_XDECREF(self->param_src[k]);
    if (self->param_descr) for (k = 0; k < self->n_params; k++) Py_XDECREF(self->param_descr[k]);
    if (self->res_descr) for (k = 0; k < self->n_res; k++) Py_XDECREF(self->res_descr[k]);
    if (self->res_dims) for (k = 0; k < self->n_res; k++) free(self->res_dims[k]);
    if (self->upd_state) for (k = 0; k < self->n_upd; k++) Py_XDECREF(self->upd_state[k]);
    if (self->locks) for (k = 0; k < self->n_locks; k++) Py_XDECREF(self->locks[k]);
    free(self->in_descr); free(self->in_ndim); free(self->in_dims); free(self->cons);
    free(self->size_slot); free(self->param_src); free(self->param_is_state);
    free(self->param_descr); free(self->res_descr); free(self->res_ndim); free(self->res_dims);
    free(self->root_res); free(self->upd_state); free(self->locks);
    if (self->upd_dims) for (k = 0; k < self->n_upd; k++) free(self->upd_dims[k]);
    free(self->upd_leaf); free(self->upd_ndim); free(self->upd_dims); free(self->upd_type);
    Py_XDECREF(self->getsignal); Py_XDECREF(self->setsignal); Py_XDECREF(self->sigint);
    free(self->ws);
    Py_TYPE(self)->tp_free((PyObject*)self);
}

static int take_descrs(PyObject* list, Py_ssize_t n, PyArray_Descr*** out) {
    Py_ssize_t k;
    if (!PyList_Check(list) || PyList_GET_SIZE(list) != n) {
        PyErr_SetString(PyExc_ValueError, "fastcall plan: dtype list of the wrong length");
        return -1;
    }
    *out = calloc(n ? n : 1, sizeof(PyArray_Descr*));
    for (k = 0; k < n; k++) {
        PyArray_Descr* d = NULL;
        if (!PyArray_DescrConverter(PyList_GET_ITEM(list, k), &d)) return -1;
        (*out)[k] = d;
    }
    return 0;
}

/* Caller(plan_ints, in_dtypes, param_sources, param_is_state, param_dtypes, res_dtypes,
          update_states, locks, lock, run_address, wsb_address, keep, compute,
          workspace_for, extobj_var, extobj_quiet, getsignal, setsignal, sigint, main_ident) */
static int Caller_init(Caller* self, PyObject* args, PyObject* kw) {
    PyObject *plan, *in_dt, *psrc, *pstate, *pdt, *rdt, *upd, *locks, *lock, *run_a, *wsb_a;
    PyObject *keep, *compute, *wsfor, *xvar, *xquiet, *getsig, *setsig, *sigint, *main_id;
    Py_ssize_t at = 0, k, j;
    if (!PyArg_ParseTuple(args, "O!OOOOOOOOOOOOOOOOOOO", &PyList_Type, &plan, &in_dt, &psrc,
                          &pstate, &pdt, &rdt, &upd, &locks, &lock, &run_a, &wsb_a, &keep,
                          &compute, &wsfor, &xvar, &xquiet, &getsig, &setsig, &sigint,
                          &main_id))
        return -1;
    self->n_in = next_int(plan, &at);
    self->in_ndim = calloc(self->n_in ? self->n_in : 1, sizeof(int));
    self->in_dims = calloc(self->n_in ? self->n_in : 1, sizeof(int64_t*));
    for (k = 0; k < self->n_in; k++) {
        int nd = (int)next_int(plan, &at);
        self->in_ndim[k] = nd;
        self->in_dims[k] = calloc(nd ? nd : 1, sizeof(int64_t));
        for (j = 0; j < nd; j++) self->in_dims[k][j] = next_int(plan, &at);
    }
    self->n_slots = next_int(plan, &at);
    self->n_cons = next_int(plan, &at);
    self->cons = calloc(3 * (self->n_cons ? self->n_cons : 1), sizeof(int64_t));
    for (k = 0; k < 3 * self->n_cons; k++) self->cons[k] = next_int(plan, &at);
    self->n_sizes = next_int(plan, &at);
    self->size_slot = calloc(self->n_sizes ? self->n_sizes : 1, sizeof(int64_t));
    for (k = 0; k < self->n_sizes; k++) self->size_slot[k] = next_int(plan, &at);
    self->n_params = next_int(plan, &at);
    self->n_res = next_int(plan, &at);
    self->res_ndim = calloc(self->n_res ? self->n_res : 1, sizeof(int));
    self->res_dims = calloc(self->n_res ? self->n_res : 1, sizeof(int64_t*));
    for (k = 0; k < self->n_res; k++) {
        Py_ssize_t start = at, len = 0;
        int nd = (int)next_int(plan, &at);
        self->res_ndim[k] = nd;
        for (j = 0; j < nd; j++) {   /* coef, nsyms, slots */
            int64_t ns;
            (void)next_int(plan, &at);
            ns = next_int(plan, &at);
            at += ns;
        }
        len = at - start - 1;
        self->res_dims[k] = calloc(len ? len : 1, sizeof(int64_t));
        for (j = 0; j < len; j++)
            self->res_dims[k][j] = PyLong_AsLongLong(PyList_GET_ITEM(plan, start + 1 + j));
    }
    self->n_roots = next_int(plan, &at);
    self->root_res = calloc(self->n_roots ? self->n_roots : 1, sizeof(int64_t));
    for (k = 0; k < self->n_roots; k++) self->root_res[k] = next_int(plan, &at);
    self->n_out = next_int(plan, &at);
    self->structure = (int)next_int(plan, &at);
    self->mode = (int)next_int(plan, &at);
    self->reuse = (int)next_int(plan, &at);
    self->gil_elements = next_int(plan, &at);
    self->n_upd = self->n_roots - self->n_out;
    self->upd_leaf = calloc(self->n_upd ? self->n_upd : 1, sizeof(int));
    self->upd_ndim = calloc(self->n_upd ? self->n_upd : 1, sizeof(int));
    self->upd_dims = calloc(self->n_upd ? self->n_upd : 1, sizeof(int64_t*));
    self->upd_type = calloc(self->n_upd ? self->n_upd : 1, sizeof(int));
    for (k = 0; k < self->n_upd; k++) {   /* leaf flag, type number, ndim, dims */
        int nd;
        self->upd_leaf[k] = (int)next_int(plan, &at);
        self->upd_type[k] = (int)next_int(plan, &at);
        nd = (int)next_int(plan, &at);
        self->upd_ndim[k] = nd;
        self->upd_dims[k] = calloc(nd ? nd : 1, sizeof(int64_t));
        for (j = 0; j < nd; j++) self->upd_dims[k][j] = next_int(plan, &at);
    }
    if (PyErr_Occurred()) return -1;
    if (self->n_slots > GC_MAX_SLOTS || self->n_in + self->n_params + self->n_res > GC_MAX_ARRAYS) {
        PyErr_SetString(PyExc_ValueError, "fastcall plan: too many arrays or sizes");
        return -1;
    }
    if (take_descrs(in_dt, self->n_in, &self->in_descr) < 0) return -1;
    if (take_descrs(pdt, self->n_params, &self->param_descr) < 0) return -1;
    if (take_descrs(rdt, self->n_res, &self->res_descr) < 0) return -1;
    if (!PyList_Check(psrc) || PyList_GET_SIZE(psrc) != self->n_params ||
        !PyList_Check(pstate) || PyList_GET_SIZE(pstate) != self->n_params ||
        !PyList_Check(upd) || PyList_GET_SIZE(upd) != self->n_upd || !PyList_Check(locks)) {
        PyErr_SetString(PyExc_ValueError, "fastcall plan: object lists of the wrong length");
        return -1;
    }
    self->param_src = calloc(self->n_params ? self->n_params : 1, sizeof(PyObject*));
    self->param_is_state = calloc(self->n_params ? self->n_params : 1, sizeof(int));
    for (k = 0; k < self->n_params; k++) {
        self->param_src[k] = Py_NewRef(PyList_GET_ITEM(psrc, k));
        self->param_is_state[k] = PyObject_IsTrue(PyList_GET_ITEM(pstate, k));
    }
    self->upd_state = calloc(self->n_upd ? self->n_upd : 1, sizeof(PyObject*));
    for (k = 0; k < self->n_upd; k++) self->upd_state[k] = Py_NewRef(PyList_GET_ITEM(upd, k));
    self->n_locks = PyList_GET_SIZE(locks);
    self->locks = calloc(self->n_locks ? self->n_locks : 1, sizeof(PyObject*));
    for (k = 0; k < self->n_locks; k++) self->locks[k] = Py_NewRef(PyList_GET_ITEM(locks, k));
    self->lock = Py_NewRef(lock);
    self->run = (gc_run_fn)gc_ptr(run_a);
    self->wsb = (gc_wsb_fn)gc_ptr(wsb_a);
    if (PyErr_Occurred()) return -1;
    self->keep = Py_NewRef(keep);
    self->compute = Py_NewRef(compute);
    self->workspace_for = Py_NewRef(wsfor);
    self->extobj_var = xvar == Py_None ? NULL : Py_NewRef(xvar);
    self->extobj_quiet = xquiet == Py_None ? NULL : Py_NewRef(xquiet);
    self->getsignal = Py_NewRef(getsig);
    self->setsignal = Py_NewRef(setsig);
    self->sigint = Py_NewRef(sigint);
    self->main_ident = PyLong_AsUnsignedLong(main_id);
    if (PyErr_Occurred()) return -1;
    self->last = PyList_New(0);
    return self->last ? 0 : -1;
}

static int try_lock(PyObject* lock) {
    PyObject* r = PyObject_CallMethodOneArg(lock, s_acquire, Py_False);
    int ok;
    if (r == NULL) return -1;
    ok = r == Py_True;
    Py_DECREF(r);
    return ok;
}

static void unlock(PyObject* lock) {
    PyObject* r = PyObject_CallMethodNoArgs(lock, s_release);
    Py_XDECREF(r);
}

static void release_locks(Caller* self, Py_ssize_t taken, int main_lock) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);   /* an error on its way out (a KeyboardInterrupt) */
    while (taken > 0) unlock(self->locks[--taken]);
    if (main_lock) unlock(self->lock);
    PyErr_Restore(type, value, tb);
}

/* The outputs in the Function's structure, from the roots' arrays. */
static PyObject* structured(Caller* self, PyObject* const* outs) {
    Py_ssize_t k;
    PyObject* r;
    if (self->structure == 0) return Py_NewRef(outs[0]);
    r = self->structure == 1 ? PyTuple_New(self->n_out) : PyList_New(self->n_out);
    if (r == NULL) return NULL;
    for (k = 0; k < self->n_out; k++) {
        if (self->structure == 1) PyTuple_SET_ITEM(r, k, Py_NewRef(outs[k]));
        else PyList_SET_ITEM(r, k, Py_NewRef(outs[k]));
    }
    return r;
}

/* Python mode: compute(*inputs, *params, *sizes, ws) -> (outs, new); no updates. */
static PyObject* run_python(Caller* self, PyObject* const* args, PyObject** pvals,
                            const int64_t* sizes) {
    PyObject* stack[GC_MAX_ARRAYS + GC_MAX_SLOTS + 1];
    PyObject* result = NULL;
    PyObject* token = NULL;
    Py_ssize_t n = 0, k;
    int fresh = !self->ws_valid;
    for (k = 0; k < self->n_sizes && !fresh; k++) fresh = self->ws_sizes[k] != sizes[k];
    if (fresh) {
        PyObject* t = PyTuple_New(self->n_sizes);
        PyObject* ws;
        if (t == NULL) return NULL;
        for (k = 0; k < self->n_sizes; k++) PyTuple_SET_ITEM(t, k, PyLong_FromLongLong(sizes[k]));
        ws = PyObject_CallOneArg(self->workspace_for, t);
        Py_DECREF(t);
        if (ws == NULL) return NULL;
        Py_XSETREF(self->ws_obj, ws);
        memcpy(self->ws_sizes, sizes, self->n_sizes * sizeof(int64_t));
        self->ws_valid = 1;
    }
    for (k = 0; k < self->n_in; k++) stack[n++] = args[k];
    for (k = 0; k < self->n_params; k++) stack[n++] = pvals[k];
    for (k = 0; k < self->n_sizes; k++) {
        stack[n] = PyLong_FromLongLong(sizes[k]);
        if (stack[n] == NULL) goto done;
        n++;
    }
    stack[n++] = self->ws_obj;
    if (self->extobj_var) {
        token = PyContextVar_Set(self->extobj_var, self->extobj_quiet);
        if (token == NULL) goto done;
    }
    result = PyObject_Vectorcall(self->compute, stack, n, NULL);
    if (token) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (PyContextVar_Reset(self->extobj_var, token) < 0) {
            Py_CLEAR(result);
            Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
        } else {
            PyErr_Restore(type, value, tb);
        }
        Py_DECREF(token);
    }
done:
    for (k = self->n_in + self->n_params; k < n - 1; k++) Py_DECREF(stack[k]);
    if (result != NULL && !(PyTuple_Check(result) && PyTuple_GET_SIZE(result) == 2 &&
                            PyTuple_Check(PyTuple_GET_ITEM(result, 0)) &&
                            PyTuple_Check(PyTuple_GET_ITEM(result, 1)) &&
                            PyTuple_GET_SIZE(PyTuple_GET_ITEM(result, 0)) == self->n_out &&
                            PyTuple_GET_SIZE(PyTuple_GET_ITEM(result, 1)) == self->n_upd)) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_RuntimeError, "compute returned no (outputs, new values)");
        return NULL;
    }
    return result;
}

static PyObject* record_sigint(PyObject* caller, PyObject* args) {
    ((Caller*)caller)->pending = 1;
    Py_RETURN_NONE;
}

static PyMethodDef record_def = {"graphc_record_sigint", record_sigint, METH_VARARGS,
                                 "records a SIGINT for after the step"};

/* As step_commit.deferred_interrupts.__enter__: in the main thread, with a Python SIGINT
   handler, record a SIGINT instead of handling it. Returns the previous handler (a new
   reference), Py_None when nothing was changed, NULL on error. */
static PyObject* defer_begin(Caller* self) {
    PyObject *current, *record, *prev;
    if (PyThread_get_thread_ident() != self->main_ident) return Py_NewRef(Py_None);
    current = PyObject_CallOneArg(self->getsignal, self->sigint);
    if (current == NULL) return NULL;
    if (!PyCallable_Check(current)) {
        Py_DECREF(current);
        return Py_NewRef(Py_None);
    }
    Py_DECREF(current);
    record = PyCFunction_New(&record_def, (PyObject*)self);
    if (record == NULL) return NULL;
    self->pending = 0;
    prev = PyObject_CallFunctionObjArgs(self->setsignal, self->sigint, record, NULL);
    Py_DECREF(record);
    return prev;
}

/* As deferred_interrupts.__exit__: the previous handler back, then called if a SIGINT came
   (the default one raises KeyboardInterrupt). Steals ``prev``; -1 with an exception set. */
static int defer_end(Caller* self, PyObject* prev) {
    PyObject* r;
    if (prev == Py_None) {
        Py_DECREF(prev);
        return 0;
    }
    r = PyObject_CallFunctionObjArgs(self->setsignal, self->sigint, prev, NULL);
    if (r == NULL) {
        Py_DECREF(prev);
        return -1;
    }
    Py_DECREF(r);
    if (self->pending) {
        self->pending = 0;
        r = PyObject_CallFunctionObjArgs(prev, self->sigint, Py_None, NULL);
        Py_DECREF(prev);
        if (r == NULL) return -1;
        Py_DECREF(r);
        return 0;
    }
    Py_DECREF(prev);
    return 0;
}

/* Mode 1: run compute, check and commit the new values. The new reference returned is the
   outputs in the Function's structure; Py_None: declined (nothing committed); NULL: error. */
static PyObject* call_python(Caller* self, PyObject* const* args, PyObject** pvals,
                             const int64_t* sizes) {
    PyObject *result, *outs, *news, *out = NULL, *prev = NULL;
    PyObject* newv[GC_MAX_ARRAYS];
    Py_ssize_t k, j, n_new = 0;
    if (self->n_upd) {
        prev = defer_begin(self);
        if (prev == NULL) return NULL;
    }
    result = run_python(self, args, pvals, sizes);
    if (result == NULL) goto end;
    outs = PyTuple_GET_ITEM(result, 0);
    news = PyTuple_GET_ITEM(result, 1);
    /* each new value: an array of its parameter's dtype and shape, never aliasing a feed,
       a parameter, an output or another new value (as Function._run) */
    for (k = 0; k < self->n_upd; k++) {
        PyObject* v = PyTuple_GET_ITEM(news, k);
        PyArrayObject* a;
        int copy = self->upd_leaf[k];
        if (!PyArray_Check(v)) goto decline;
        a = (PyArrayObject*)v;
        if (PyArray_NDIM(a) != self->upd_ndim[k] || !PyArray_ISNOTSWAPPED(a) ||
            !PyArray_EquivTypenums(PyArray_TYPE(a), self->upd_type[k]))
            goto decline;
        for (j = 0; j < self->upd_ndim[k]; j++)
            if (PyArray_DIMS(a)[j] != self->upd_dims[k][j]) goto decline;
        for (j = 0; j < self->n_in && !copy; j++) copy = v == args[j];
        for (j = 0; j < self->n_params && !copy; j++) copy = v == pvals[j];
        for (j = 0; j < self->n_out && !copy; j++) copy = v == PyTuple_GET_ITEM(outs, j);
        for (j = 0; j < n_new && !copy; j++) copy = v == newv[j];
        newv[n_new] = copy ? PyArray_NewCopy(a, NPY_CORDER) : Py_NewRef(v);
        if (newv[n_new] == NULL) goto end;
        n_new++;
    }
    out = structured(self, &PyTuple_GET_ITEM(outs, 0));
    if (out == NULL) goto end;
    /* commit: every new value was computed from the old ones; switch them together */
    for (k = 0; k < self->n_upd; k++)
        if (PyObject_SetAttr(self->upd_state[k], s_value, newv[k]) < 0) {
            Py_CLEAR(out);
            goto end;
        }
    self->calls++;
    goto end;
decline:
    out = Py_NewRef(Py_None);
end:
    for (k = 0; k < n_new; k++) Py_DECREF(newv[k]);
    Py_XDECREF(result);
    if (prev != NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);   /* compute's error, if any */
        if (defer_end(self, prev) < 0) {   /* the handler's KeyboardInterrupt wins */
            Py_CLEAR(out);
            Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
        } else {
            PyErr_Restore(type, value, tb);
        }
    }
    return out;
}

static PyObject* Caller_call(Caller* self, PyObject* feeds) {
    void* in_ptr[GC_MAX_ARRAYS];
    void* p_ptr[GC_MAX_ARRAYS];
    void* r_ptr[GC_MAX_ARRAYS];
    PyObject* pvals[GC_MAX_ARRAYS];
    PyObject* roots[GC_MAX_ARRAYS];
    int64_t slots[GC_MAX_SLOTS];
    int64_t sizes[GC_MAX_SLOTS];
    int64_t elements = 0;
    Py_ssize_t k, j, taken = 0, n_pvals = 0;
    PyObject *res = NULL, *out = NULL;
    PyObject* const* args;
    int ok, rc;

    if (!PyTuple_Check(feeds) || PyTuple_GET_SIZE(feeds) != self->n_in) Py_RETURN_NONE;
    args = &PyTuple_GET_ITEM(feeds, 0);
    for (k = 0; k < self->n_slots; k++) slots[k] = -1;
    /* feeds: arrays of the placeholder's dtype and shape, C-contiguous and aligned */
    for (k = 0; k < self->n_in; k++) {
        PyArrayObject* a;
        npy_intp* shape;
        if (!PyArray_Check(args[k])) Py_RETURN_NONE;
        a = (PyArrayObject*)args[k];
        if (PyArray_NDIM(a) != self->in_ndim[k] || !PyArray_IS_C_CONTIGUOUS(a) ||
            !PyArray_ISALIGNED(a))
            Py_RETURN_NONE;
        if (PyArray_DESCR(a) != self->in_descr[k] &&
            !PyArray_EquivTypes(PyArray_DESCR(a), self->in_descr[k]))
            Py_RETURN_NONE;
        shape = PyArray_DIMS(a);
        for (j = 0; j < self->in_ndim[k]; j++) {
            int64_t d = self->in_dims[k][j];
            if (d >= 0) {
                if (shape[j] != d) Py_RETURN_NONE;
            } else if (slots[-d - 1] < 0) {
                slots[-d - 1] = shape[j];
            } else if (slots[-d - 1] != shape[j]) {
                Py_RETURN_NONE;
            }
        }
        elements += PyArray_SIZE(a);
        in_ptr[k] = PyArray_DATA(a);
    }
    for (k = 0; k < self->n_cons; k++) {
        int64_t a = slots[self->cons[3 * k]];
        int64_t b = self->cons[3 * k + 1] >= 0 ? slots[self->cons[3 * k + 1]]
                                               : self->cons[3 * k + 2];
        if (a >= 0 && b >= 0 && a != b) Py_RETURN_NONE;
    }
    for (k = 0; k < self->n_sizes; k++) {
        sizes[k] = slots[self->size_slot[k]];
        if (sizes[k] < 0) Py_RETURN_NONE;
    }
    /* the Function's lock, then the update locks (in their global order): never wait here */
    ok = try_lock(self->lock);
    if (ok <= 0) {
        if (ok < 0) return NULL;
        Py_RETURN_NONE;
    }
    for (taken = 0; taken < self->n_locks; taken++) {
        ok = try_lock(self->locks[taken]);
        if (ok <= 0) {
            release_locks(self, taken, 1);
            if (ok < 0) return NULL;
            Py_RETURN_NONE;
        }
    }
    /* parameters, read under the locks */
    for (k = 0; k < self->n_params; k++) {
        PyObject* v;
        PyArrayObject* a;
        if (self->param_is_state[k]) {
            v = PyObject_GetAttr(self->param_src[k], s_value);
            if (v == NULL) goto fail;
        } else {
            v = Py_NewRef(self->param_src[k]);
        }
        pvals[n_pvals++] = v;
        if (!PyArray_Check(v)) goto decline;
        a = (PyArrayObject*)v;
        if (!PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a) ||
            (PyArray_DESCR(a) != self->param_descr[k] &&
             !PyArray_EquivTypes(PyArray_DESCR(a), self->param_descr[k])))
            goto decline;
        elements += PyArray_SIZE(a);
        p_ptr[k] = PyArray_DATA(a);
    }
    if (self->mode == 1) {
        out = call_python(self, args, pvals, sizes);
        goto done;
    }
    /* results: last call's arrays when nothing else holds them, else new ones */
    res = PyList_New(self->n_res);
    if (res == NULL) goto fail;
    for (k = 0; k < self->n_res; k++) {
        npy_intp shape[NPY_MAXDIMS];
        const int64_t* d = self->res_dims[k];
        PyObject* old = k < PyList_GET_SIZE(self->last) ? PyList_GET_ITEM(self->last, k) : NULL;
        PyObject* arr = NULL;
        int same = old != NULL;
        for (j = 0; j < self->res_ndim[k]; j++) {
            int64_t n = *d++, ns = *d++, s;
            for (s = 0; s < ns; s++) n *= slots[*d++];
            shape[j] = (npy_intp)n;
            if (same && PyArray_DIMS((PyArrayObject*)old)[j] != shape[j]) same = 0;
        }
        if (self->reuse && same && Py_REFCNT(old) == 1) {
            arr = Py_NewRef(old);
        } else {
            Py_INCREF(self->res_descr[k]);
            arr = PyArray_Empty(self->res_ndim[k], shape, self->res_descr[k], 0);
            if (arr == NULL) goto fail;
        }
        PyList_SET_ITEM(res, k, arr);
        r_ptr[k] = PyArray_DATA((PyArrayObject*)arr);
        elements += PyArray_SIZE((PyArrayObject*)arr);
    }
    /* the workspace, sized when the run-time sizes change */
    {
        int fresh = !self->ws_valid;
        for (k = 0; k < self->n_sizes && !fresh; k++) fresh = self->ws_sizes[k] != sizes[k];
        if (fresh) {
            int64_t need = self->wsb(sizes);
            if (need < 64) need = 64;
            if (need > self->ws_bytes) {
                void* p = NULL;
                if (posix_memalign(&p, 64, (size_t)need) != 0) {
                    PyErr_NoMemory();
                    goto fail;
                }
                free(self->ws);
                self->ws = p;
                self->ws_bytes = need;
            }
            memcpy(self->ws_sizes, sizes, self->n_sizes * sizeof(int64_t));
            self->ws_valid = 1;
        }
    }
    if (elements > self->gil_elements) {
        Py_BEGIN_ALLOW_THREADS
        rc = self->run(in_ptr, p_ptr, r_ptr, sizes, self->ws);
        Py_END_ALLOW_THREADS
    } else {
        rc = self->run(in_ptr, p_ptr, r_ptr, sizes, self->ws);
    }
    if (rc != 0) goto decline;   /* the Python path runs again and explains the failure */
    for (k = 0; k < self->n_roots; k++) roots[k] = PyList_GET_ITEM(res, self->root_res[k]);
    out = structured(self, roots);
    if (out == NULL) goto fail;
    /* commit: every new value was computed from the old ones; switch them together */
    for (k = 0; k < self->n_upd; k++)
        if (PyObject_SetAttr(self->upd_state[k], s_value, roots[self->n_out + k]) < 0) goto fail;
    Py_SETREF(self->last, res);
    res = NULL;
done:
    if (out != NULL && self->mode == 0) self->calls++;
    for (k = 0; k < n_pvals; k++) Py_DECREF(pvals[k]);
    Py_XDECREF(res);
    release_locks(self, self->n_locks, 1);
    return out;
decline:
    for (k = 0; k < n_pvals; k++) Py_DECREF(pvals[k]);
    Py_XDECREF(res);
    release_locks(self, self->n_locks, 1);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(out);
    out = NULL;
    for (k = 0; k < n_pvals; k++) Py_DECREF(pvals[k]);
    Py_XDECREF(res);
    release_locks(self, self->n_locks, 1);
    return NULL;
}

static PyObject* Caller_get_calls(Caller* self, void* closure) {
    return PyLong_FromLongLong(self->calls);
}

static PyMethodDef Caller_methods[] = {
    {"call", (PyCFunction)Caller_call, METH_O,
     "call(feeds: tuple) -> outputs, or None where the Python path must take the call"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Caller_getset[] = {
    {"calls", (getter)Caller_get_calls, NULL, "calls completed on the fast path", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject CallerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "graphc_fastcall.Caller",
    .tp_basicsize = sizeof(Caller),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Caller_init,
    .tp_dealloc = (destructor)Caller_dealloc,
    .tp_methods = Caller_methods,
    .tp_getset = Caller_getset,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "graphc_fastcall",
                                    "graphc's fast call path", -1, NULL};

PyMODINIT_FUNC PyInit_graphc_fastcall(void) {
    PyObject* m;
    import_array();
    if (PyType_Ready(&CallerType) < 0) return NULL;
    s_value = PyUnicode_InternFromString("value");
    s_acquire = PyUnicode_InternFromString("acquire");
    s_release = PyUnicode_InternFromString("release");
    if (!s_value || !s_acquire || !s_release) return NULL;
    m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&CallerType);
    if (PyModule_AddObject(m, "Caller", (PyObject*)&CallerType) < 0) return NULL;
    return m;
}
