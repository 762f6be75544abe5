"""Group-specific correlation parameters for every structure: ``group=`` (SAS
``REPEATED / GROUP=``, mmrm's ``us(visit | arm / id)``).

``CorSymm(form="~ visit | Subject", group="Sex")`` has one copy of ``CorSymm``'s
parameters per level of ``Sex``; every correlation group (a subject) uses the copy of
its level.  ``group`` names a between-subject factor: a column constant within each
correlation group.

How it works: a structure built with ``group=`` is an instance of its own class with
:class:`GroupedCor` in front (``grouped_class``), so ``isinstance`` and the printed
class name are unchanged.  ``initialize`` splits the blocks by level and initializes one
ungrouped copy of the structure (a "member") on the rows of each level, with that
level's data (so the number of positions, the lags present, the spatial scale are the
level's own, and every check of the structure runs per level).  Every method of the
protocol then maps the concatenated parameters ``theta = (theta_level1, theta_level2,
..)`` and the rows onto the members:

* ``whiten`` whitens each level's rows with its member;
* ``dense_layout`` / ``dense_correlations`` are the members' pattern groups with their
  rows mapped back (the derivatives padded with zeros for the other levels'
  parameters);
* ``banded_factor`` is the members' bidiagonal factors side by side when every member is
  banded (AR(1)-type structures with monotone positions);
* ``coefficients``, ``param_names``, ``apvar_names`` and ``apvar_report`` name each
  parameter ``"<name>:<level>"`` (``cor(1,2):Female``, ``Phi:Male``).

Levels are ordered as the column's categories (a pandas Categorical), else sorted;
levels without rows are left out.
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from ..form import level_sort_key
from .patterns import PatternGroup

__all__ = ["GroupedCor", "grouped_class", "check_group"]

_CLASSES = {}


def check_group(group, cls_name):
    """``group`` if it is ``None`` or a column name, else a ValueError naming the
    accepted forms."""
    if group is None or (isinstance(group, str) and group.strip()):
        return None if group is None else group.strip()
    raise ValueError(f"{cls_name}: group must be None or the name of a column (a "
                     f"between-subject factor such as group='Sex'), got {group!r}")


def grouped_class(base):
    """``base`` with the grouped protocol in front, created once per class."""
    cls = _CLASSES.get(base)
    if cls is None:
        cls = type(base.__name__, (GroupedCor, base),
                   {"__module__": base.__module__, "__qualname__": base.__qualname__,
                    "__doc__": base.__doc__, "_grouped_base": base})
        _CLASSES[base] = cls
    return cls


def _rebuild(base):
    """Unpickling: an empty instance of ``base``'s grouped class."""
    cls = grouped_class(base)
    return cls.__new__(cls)


class GroupedCor:
    """The correlation-structure protocol with one parameter copy per group level.

    Not used directly: ``SomeCor(..., group="col")`` returns an instance of
    ``SomeCor`` with this class in front of it in the method resolution order.
    """

    _grouped_base = None

    def __reduce_ex__(self, protocol):
        return _rebuild, (self._grouped_base,), self.__dict__.copy()

    # -- binding -------------------------------------------------------------------
    def initialize(self, data, blocks=None, eval_env=None):
        """Bind to the model frame: one ungrouped copy of the structure per level of
        ``group``, each initialized on its level's correlation groups (see
        :meth:`CorStruct.initialize`).

        Raises
        ------
        KeyError
            ``group`` is not a column of ``data``.
        ValueError
            ``group`` has missing values or is not constant within a correlation group,
            or a level's data do not suit the structure (the message names the level).
        """
        template = self.__dict__.get("_g_template")
        if template is None:
            template = self._g_template = copy.deepcopy(
                {k: v for k, v in self.__dict__.items() if not k.startswith("_g_")})
        self._bind_blocks(data, blocks)
        if self.group not in data.columns:
            raise KeyError(f"{self._cls}: group={self.group!r} is not a column of the data")
        col = data[self.group]
        if col.isna().any():
            raise ValueError(f"{self._cls}: group column {self.group!r} has missing values")
        codes = np.asarray(level_sort_key(col))
        block_code = codes[self._starts]
        bad = codes != block_code[self._blocks]
        if bad.any():
            b = int(self._blocks[np.argmax(bad)])
            vals = pd.unique(col[self._blocks == b].astype(str))
            raise ValueError(
                f"{self._cls}: group={self.group!r} must be a between-subject factor, constant "
                f"within each correlation group; {self._where(b)} has the values "
                f"{', '.join(map(repr, vals))}")
        present = np.unique(block_code)
        labels = {c: str(v) for c, v in zip(codes, col.to_numpy())}
        self._g_levels = [labels[c] for c in present]
        self._g_block_level = np.searchsorted(present, block_code)
        self._g_local_block = np.zeros(self._n_blocks, dtype=np.int64)
        self._g_members, self._g_rows, self._g_block_ids = [], [], []
        row_level = self._g_block_level[self._blocks]
        coords = None
        for li, level in enumerate(self._g_levels):
            blk = np.flatnonzero(self._g_block_level == li)
            rows = np.flatnonzero(row_level == li)
            self._g_local_block[blk] = np.arange(blk.size)
            member = object.__new__(self._grouped_base)
            member.__dict__.update(copy.deepcopy(template))
            member.group = None
            if self.block_labels is not None:
                member.block_labels = np.asarray(self.block_labels, dtype=object)[blk]
            try:
                member.initialize(data.iloc[rows].reset_index(drop=True),
                                  np.repeat(np.arange(blk.size), self._sizes[blk]), eval_env)
            except ValueError as exc:
                raise type(exc)(f"{exc} (in {self.group} = {level!r})") from None
            if coords is None:
                coords = np.zeros((self._N,) + member._coords.shape[1:])
            coords[rows] = member._coords
            self._g_members.append(member)
            self._g_rows.append(rows)
            self._g_block_ids.append(blk)
        self._coords = coords
        sizes = [0 if self.fixed else m.n_params for m in self._g_members]
        ends = np.cumsum(sizes)
        self._g_slices = [slice(int(e - k), int(e)) for e, k in zip(ends, sizes)]
        self._g_layout = None
        self._initialized = True

    @property
    def group_levels(self):
        """The levels of ``group`` present in the data, in parameter order.

        Returns
        -------
        list of str
        """
        self._require_init("the levels come from the data")
        return list(self._g_levels)

    def _parts(self, theta):
        """Split the free parameters by level (``None`` stays ``None``)."""
        if theta is None:
            return [None] * len(self._g_members)
        theta = np.asarray(theta, dtype=float).ravel()
        if theta.size != self.n_params:
            raise ValueError(f"{self._cls}: expected {self.n_params} unconstrained "
                             f"parameter(s) ({len(self._g_levels)} levels of "
                             f"{self.group!r}), got {theta.size}")
        return [theta[s] for s in self._g_slices]

    def _labelled(self, names, level):
        return [f"{n}:{level}" for n in names]

    # -- parameters ------------------------------------------------------------------
    @property
    def n_params(self):
        if self.fixed:
            return 0
        self._require_init("the number of parameters comes from the data of every level")
        return sum(m.n_params for m in self._g_members)

    def param_names(self):
        if self.fixed:
            return []
        self._require_init("the parameters come from the data of every level")
        return [n for m, lev in zip(self._g_members, self._g_levels)
                for n in self._labelled(m.param_names(), lev)]

    def start(self):
        if self.fixed:
            return np.zeros(0)
        self._require_init("the starting values depend on the data")
        return np.concatenate([m.start() for m in self._g_members])

    def at_boundary(self, theta):
        parts = self._parts(theta)
        return np.concatenate([np.asarray(m.at_boundary(t), dtype=bool)
                               for m, t in zip(self._g_members, parts)])

    def positive_definite(self, theta):
        return all(m.positive_definite(t) for m, t in zip(self._g_members, self._parts(theta)))

    def coefficients(self, theta=None):
        self._require_init("the coefficients are per level of the data")
        parts = self._parts(None if self.fixed else theta)
        out = [m.coefficients(t) for m, t in zip(self._g_members, parts)]
        return pd.concat([s.set_axis(self._labelled(s.index, lev))
                          for s, lev in zip(out, self._g_levels)]).astype(float)

    def to_unconstrained(self, natural):
        if self.fixed:
            return np.zeros(0)
        names = list(self.coefficients(self.start()).index)
        if isinstance(natural, dict):
            natural = pd.Series(natural)
        if isinstance(natural, pd.Series):
            if set(natural.index) != set(names):
                raise ValueError(f"{self._cls}: natural values must be named {names}")
            natural = natural.reindex(names).to_numpy(dtype=float)
        nat = np.asarray(natural, dtype=float).ravel()
        if nat.size != len(names):
            raise ValueError(f"{self._cls}: expected {len(names)} natural values "
                             f"({', '.join(names)}), got {nat.size}")
        out, pos = [], 0
        for m in self._g_members:
            k = len(m.coefficients(m.start()))
            out.append(m.to_unconstrained(nat[pos:pos + k]))
            pos += k
        return np.concatenate(out)

    # apVar: each member's scale, side by side
    def apvar_params(self, theta):
        return np.concatenate([np.asarray(m.apvar_params(t), dtype=float)
                               for m, t in zip(self._g_members, self._parts(theta))])

    def apvar_theta(self, nat):
        nat = np.asarray(nat, dtype=float).ravel()
        return np.concatenate([np.asarray(m.apvar_theta(nat[s]), dtype=float)
                               for m, s in zip(self._g_members, self._g_slices)])

    def apvar_names(self):
        return [n for m, lev in zip(self._g_members, self._g_levels)
                for n in self._labelled(m.apvar_names(), lev)]

    def apvar_report(self, nat):
        nat = np.asarray(nat, dtype=float).ravel()
        out = [m.apvar_report(nat[s]) for m, s in zip(self._g_members, self._g_slices)]
        return pd.concat([r.set_axis(self._labelled(r.index, lev))
                          for r, lev in zip(out, self._g_levels)]).astype(float)

    # -- whitening and dense algebra -----------------------------------------------------
    def whiten(self, theta, A):
        self._require_init("whiten")
        A = np.asarray(A, dtype=float)
        if A.shape[:1] != (self._N,) or A.ndim > 2:
            raise ValueError(f"{self._cls}: whiten expects {self._N} rows, got shape {A.shape}")
        A2 = A.reshape(self._N, -1)
        out = np.empty_like(A2)
        logdet = 0.0
        for m, rows, t in zip(self._g_members, self._g_rows, self._parts(theta)):
            out[rows], ld = m.whiten(t, A2[rows])
            logdet += ld
        return out.reshape(A.shape), float(logdet)

    def dense_layout(self):
        self._require_init("dense_layout")
        if self._g_layout is None:
            self._g_layout = []
            for m, rows, blk in zip(self._g_members, self._g_rows, self._g_block_ids):
                for g in m.dense_layout():
                    h = PatternGroup(g.n, rows[g.rows], blk[g.blocks], g.bounds)
                    h.geom = g.geom
                    self._g_layout.append(h)
        return self._g_layout

    def dense_correlations(self, theta, jacobian=False):
        k = self.n_params
        out = []
        for m, t, sl in zip(self._g_members, self._parts(theta), self._g_slices):
            for C, dC in m.dense_correlations(t, jacobian=jacobian):
                if jacobian and k:
                    full = np.zeros((k,) + C.shape)
                    if dC is not None:
                        full[sl] = dC
                    dC = full
                out.append((C, dC))
        return out

    def correlation_matrix(self, theta, block):
        self._require_init("correlation_matrix")
        b = self._block_index(block)
        li = int(self._g_block_level[b])
        return self._g_members[li].correlation_matrix(self._parts(theta)[li],
                                                       int(self._g_local_block[b]))

    @property
    def is_banded(self):
        return all(m.is_banded for m in self._g_members)

    def banded_factor(self, theta):
        self._require_init("banded_factor")
        if not self.is_banded:
            raise NotImplementedError(f"{self._cls}: some blocks are not whitened by the "
                                      "bidiagonal factor")
        k, N = self.n_params, self._N
        a, b = np.ones(N), np.zeros(N)
        da, db, dlogdet = np.zeros((k, N)), np.zeros((k, N)), np.zeros(k)
        for m, rows, t, sl in zip(self._g_members, self._g_rows, self._parts(theta),
                                  self._g_slices):
            am, bm, dam, dbm, dlm = m.banded_factor(t)
            a[rows], b[rows] = am, bm
            idx = np.ix_(np.arange(sl.start, sl.stop), rows)
            da[idx], db[idx] = dam, dbm
            dlogdet[sl] = dlm
        return a, b, da, db, dlogdet
