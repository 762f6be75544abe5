## Accurate apVar (approximate covariance of the variance parameters) for the validation
## cases -> validation/references_apvar/apvar.json.
##   Rscript validation/R/apvar_accurate.R            (R 4.2.2, nlme 3.1-162, numDeriv)
##   Rscript validation/R/apvar_accurate.R spatial    (only references/spatial.json ->
##                                                     references_apvar/spatial.json)
##
## nlme's fit$apVar = solve(-H) with H = fdHess(Pars, <full log-likelihood>, ...) taken with
## .relStep = eps^(1/3) ~ 6.06e-6 (steps h_i = max(|Pars_i|, 0.05) * 6.06e-6). With such small
## steps the second differences of a log-likelihood of size ~1e2..1e3 lose most of their digits
## to rounding, so apVar is noisy. This script computes the Hessian of NLME'S OWN criterion
## (nlme:::lmeApVar.fullLmeLogLik / nlme:::glsApVar.fullGlsLogLik, at the same Pars, on the
## natural scale, exactly as nlme:::lmeApVar / nlme:::glsApVar set it up) with stable steps:
##
##  * the exact objects nlme passes to lmeApVar/glsApVar are captured while refitting each case
##    (r_call of references/{seeds,varfunc,corstruct}.json on load_ds() data, as run_cases does);
##  * nlme's lmeApVar/glsApVar are re-run on them with fdHess replaced by
##      - nlme's fdHess with .relStep 1e-3 and 1e-4 (minAbsPar 0.05 as in lmeControl/glsControl);
##      - numDeriv::hessian (Richardson, genD) in scaled coordinates u, Pars = P0 + s * u with
##        s_i = max(|P0_i|, 0.05): initial step e in u, halved 3 times (r = 4), for a ladder
##        e = 0.1 * (1, 1/2, 1/5, 1/10, 1/20, 1/50) (smaller for corSpher/corLin, see kink_gap);
##  * the accurate apVar is the Richardson one at the rung in the middle of the most stable
##    plateau of the ladder (large steps: truncation / leaving the region where the function is
##    well behaved; small steps: rounding noise). Why not fdHess with a larger step:
##    fdHess's mixed terms f(x + h_i + h_j) are one-sided (O(h) error), and where the Hessian is
##    nearly singular (varPower/varConstPower with sigma, weakly determined SDs) the inverse
##    amplifies that error: fdHess 1e-3 and 1e-4 disagree by up to 400% (scaled). Why not small
##    Richardson steps: the criterion has rounding noise ~1e-13..4e-13 (|logLik| ~ 1e2..5e2), so
##    initial steps 1e-2/1e-3 with r = 6/4 end at h ~ 1e-4..1e-6 and lose 1e-3 on weak
##    directions (V31 reStruct.a, C06 Mare2, V21, V13); initial steps 0.1 and 0.05 agree to
##    ~1e-6 relative on those. Agreement between all variants is recorded per case.
##  * the default (nlme, .relStep = eps^(1/3)) apVar is recomputed the same way and compared with
##    the JSON's apVar (must be identical: proves the capture reproduces nlme's call);
##  * intervals(fit) with fit$apVar replaced by the accurate matrix (attributes Pars/natural kept).
## Output per case (also for S08/C23/C30, where nlme's apVar is the "Non-positive definite"
## string): apVar_names, apVar_Pars, apVar_default (nlme), apVar_accurate, apVar_fdHess_1e3/1e4,
## relstep_agreement = max_ij |A3_ij - A4_ij| / sqrt(A3_ii A3_jj) for fdHess .relStep 1e-3 vs
## 1e-4 (relstep_agreement_diag: diagonal only, relative), richardson_agreement (same measure
## between the chosen rung and its neighbours), richardson_step, hessian_accurate and its
## eigenvalues, default_vs_accurate_{diag,scaled}, intervals_accurate (as the cases'
## "intervals"), notes. All numbers at full precision (digits = NA). Runtime ~1 min.
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
suppressPackageStartupMessages(library(numDeriv))

OUTDIR <- file.path(VALDIR, "references_apvar")
LAST_H <- NULL
## case groups from the command line (output named after them), else the original three
ARGS <- commandArgs(TRUE)
GROUPS <- if (length(ARGS)) ARGS else c("seeds", "varfunc", "corstruct")
OUTNAME <- if (length(ARGS)) paste(ARGS, collapse = "_") else "apvar"

## ---- capture the arguments of nlme:::lmeApVar / nlme:::glsApVar during a fit -------------
ORIG <- list(lme = get("lmeApVar", envir = asNamespace("nlme")),
             gls = get("glsApVar", envir = asNamespace("nlme")))
CAPTURED <- NULL
make_capture <- function(kind) {
  orig <- ORIG[[kind]]
  f <- function(st, sigma, conLin = attr(st, "conLin"), .relStep = .Machine$double.eps^(1/3),
                minAbsPar = 0, natural = TRUE) {
    force(conLin)
    CAPTURED <<- list(kind = kind, st = st, sigma = sigma, conLin = conLin,
                      .relStep = .relStep, minAbsPar = minAbsPar, natural = natural)
    orig(st, sigma, conLin = conLin, .relStep = .relStep, minAbsPar = minAbsPar, natural = natural)
  }
  f
}
assignInNamespace("lmeApVar", make_capture("lme"), "nlme")
assignInNamespace("glsApVar", make_capture("gls"), "nlme")
restore_ns <- function() {
  assignInNamespace("lmeApVar", ORIG$lme, "nlme")
  assignInNamespace("glsApVar", ORIG$gls, "nlme")
}

## ---- nlme's lmeApVar/glsApVar with a replaceable Hessian routine -------------------------
## A copy of nlme's own function whose enclosing environment defines `fdHess`, so everything
## except the Hessian (natural parametrization, Pars, criterion, solve(-H)) is nlme's code.
apvar_with <- function(cap, hess) {
  f <- ORIG[[cap$kind]]
  env <- new.env(parent = asNamespace("nlme"))
  env$fdHess <- hess
  environment(f) <- env
  f(cap$st, cap$sigma, conLin = cap$conLin, minAbsPar = cap$minAbsPar, natural = cap$natural)
}
hess_fd <- function(relStep, minAbs = 0.05) {
  force(relStep); force(minAbs)
  function(pars, fun, ..., .relStep, minAbsPar) nlme::fdHess(pars, fun, ..., .relStep = relStep, minAbsPar = minAbs)
}
## numDeriv Richardson in scaled coordinates: Pars = P0 + s*u, u = 0 -> every step is `eps`
## (zero.tol makes genD use the absolute eps at u = 0), halved r - 1 times.
hess_rich <- function(eps = 1e-2, r = 6) {
  function(pars, fun, ..., .relStep, minAbsPar) {
    p0 <- as.numeric(pars)
    s <- pmax(abs(p0), 0.05)
    g <- function(u) fun(p0 + s * u, ...)
    Hu <- numDeriv::hessian(g, rep(0, length(p0)), method = "Richardson",
                            method.args = list(eps = eps, d = eps, zero.tol = 1, r = r, v = 2))
    H <- Hu / outer(s, s)
    LAST_H <<- H
    list(Hessian = H)
  }
}

LADDER <- c(1, 0.5, 0.2, 0.1, 0.05, 0.02)
## corSpher steps below this (scaled) are lost in rounding: see kink_gap below
KINK_FLOOR <- 1e-4
## corSpher / corLin: the criterion has kinks where the range equals a pairwise distance.
## Returns the distance of the nearest kink in the unconstrained range parameter and the
## largest initial scaled step that keeps every Richardson evaluation inside that piece.
kink_gap <- function(fit, cap) {
  cs <- fit$modelStruct$corStruct
  none <- list(gap = Inf, eps_max = Inf, class = "")
  if (is.null(cs) || !inherits(cs, c("corSpher", "corLin")) ||
      !length(coef(cs, unconstrained = TRUE))) return(none)   # held fixed: not in apVar
  th <- coef(cs, unconstrained = TRUE)[[1]]
  rng <- coef(cs, unconstrained = FALSE)[["range"]]
  minD <- rng - exp(th)
  d <- unique(unlist(getCovariate(cs)))
  d <- d[d > minD]
  gap <- min(abs(log(d - minD) - th))
  s <- max(abs(th), 0.05)
  list(gap = gap, eps_max = 0.5 * gap / s, class = class(cs)[1])
}

mat_rows <- function(m) unname(split(as.numeric(m), row(m)))
## max |a_ij - b_ij| / sqrt(a_ii a_jj) (relative on the diagonal, correlation scale off it)
scaled_diff <- function(a, b) {
  if (!is.matrix(a) || !is.matrix(b)) return(NA_real_)
  d <- sqrt(diag(a)); max(abs(a - b) / outer(d, d))
}
diag_rel <- function(a, b) {
  if (!is.matrix(a) || !is.matrix(b)) return(NA_real_)
  max(abs(diag(a) - diag(b)) / abs(diag(a)))
}
iv_json <- function(iv) lapply(unclass(iv), function(el) {   # as dump_case() does
  if (is.list(el) && !is.data.frame(el))
    lapply(el, function(e) { e <- as.matrix(e); data.frame(name = rownames(e), e, row.names = NULL) })
  else if (is.matrix(el)) data.frame(name = rownames(el), el, row.names = NULL)
  else as.list(el)
})

out <- list()
summ <- list()
t0 <- Sys.time()
for (grp in GROUPS) {
  cases <- fromJSON(file.path(REFDIR, paste0(grp, ".json")), simplifyVector = FALSE)
  for (cs in cases) {
    if (is.null(cs$apVar)) next
    has_mat <- is.list(cs$apVar)
    data <- load_ds(cs$dataset)
    CAPTURED <- NULL
    fit <- suppressWarnings(eval_call(cs$r_call, cs$dataset, data))
    cap <- CAPTURED
    notes <- character(0)
    if (is.null(cap)) { cat(sprintf("%-5s no apVar call captured\n", cs$id)); next }
    ## 1. default (nlme's own settings) - must reproduce the JSON
    def <- apvar_with(cap, function(pars, fun, ..., .relStep, minAbsPar)
      nlme::fdHess(pars, fun, ..., .relStep = cap$.relStep, minAbsPar = cap$minAbsPar))
    if (has_mat) {
      ref <- do.call(rbind, lapply(cs$apVar, unlist))
      sc <- max(abs(ref))
      dref <- max(abs(unname(unclass(fit$apVar))[seq_along(ref)] - ref)) / sc
      drec <- max(abs(unname(def[, ]) - ref)) / sc
      if (drec > 1e-12 || dref > 1e-12)
        cat(sprintf("  !! %s: refit apVar differs from JSON by %.3g (recomputed %.3g)\n", cs$id, dref, drec))
      notes <- c(notes, sprintf("default apVar reproduces the JSON (max |diff| / max |apVar| %.1e)", max(drec, dref)))
    } else {
      notes <- c(notes, paste("nlme's default apVar:", cs$apVar))
    }
    ## 2. stable variants
    fd3 <- apvar_with(cap, hess_fd(1e-3))
    fd4 <- apvar_with(cap, hess_fd(1e-4))
    ## Richardson ladder: initial (scaled) steps base * LADDER; the accurate value is the rung
    ## in the middle of the most stable plateau (min over k of max(diff(k-1,k), diff(k,k+1))).
    gap <- kink_gap(fit, cap)
    base <- 0.1
    if (is.finite(gap$eps_max) && gap$eps_max < base && gap$eps_max < KINK_FLOOR &&
        gap$class == "corSpher") {
      notes <- c(notes, sprintf(paste(
        "corSpher: the second derivative jumps where range = a pairwise distance, and these",
        "kinks are dense here (the nearest is %.3g away in the log-range parameter; a step inside",
        "the smooth piece, %.3g scaled, is lost in rounding). The first derivative is continuous,",
        "so the steps are not capped: the Hessian is the curvature over many pieces"),
        gap$gap, gap$eps_max))
    } else if (is.finite(gap$eps_max) && gap$eps_max < base) {
      base <- gap$eps_max
      notes <- c(notes, sprintf(paste(
        "%s is only once differentiable in the range (kinks where range = a pairwise distance;",
        "the nearest is %.3g away in the log-range parameter): steps capped at %.3g (scaled) so",
        "the Hessian is that of the smooth piece containing the estimate (the limit fdHess aims at)"),
        gap$class, gap$gap, base))
    }
    rungs <- base * LADDER
    HH <- list()
    A <- lapply(seq_along(rungs), function(k) {
      a <- apvar_with(cap, hess_rich(rungs[k], 4)); HH[[k]] <<- LAST_H; a })
    dk <- vapply(seq_len(length(A) - 1), function(k) scaled_diff(A[[k]], A[[k + 1]]), 0)
    score <- vapply(2:(length(A) - 1), function(k) max(dk[k - 1], dk[k]), 0)
    score[is.na(score)] <- Inf
    kbest <- if (all(!is.finite(score))) 2L else which.min(score) + 1L
    acc <- A[[kbest]]
    Hacc <- HH[[kbest]]
    ev <- eigen(Hacc, symmetric = TRUE, only.values = TRUE)$values
    if (!is.matrix(acc)) notes <- c(notes, sprintf(paste(
      "the accurate Hessian is not negative definite either (eigenvalues %s): nlme's message is",
      "not a finite-difference artifact"), paste(sprintf("%.4g", ev), collapse = ", ")))
    if (!has_mat && is.matrix(acc)) notes <- c(notes, sprintf(paste(
      "nlme's 'Non-positive definite' is a finite-difference artifact: the accurate Hessian is",
      "negative definite (eigenvalues %s)"), paste(sprintf("%.4g", ev), collapse = ", ")))
    if (max(abs(ev)) / min(abs(ev)) > 1e6) notes <- c(notes, sprintf(
      "Hessian nearly singular (eigenvalue ratio %.2g): apVar is ill-determined in one direction",
      max(abs(ev)) / min(abs(ev))))
    cst <- fit$modelStruct$corStruct
    if (!is.null(cst)) {
      cm <- corMatrix(cst); if (!is.list(cm)) cm <- list(cm)
      mev <- min(vapply(cm, function(M) min(eigen(M, symmetric = TRUE, only.values = TRUE)$values), 0))
      if (mev < 0) notes <- c(notes, sprintf(paste(
        "the fitted correlation matrix is NOT positive definite (min eigenvalue %.4g); nlme",
        "evaluates its criterion anyway"), mev))
    }
    agree_ri <- score[kbest - 1]
    agree_fd <- scaled_diff(fd3, fd4)
    agree_fd4_ri <- scaled_diff(acc, fd4)
    notes <- c(notes, sprintf(paste(
      "accurate = Richardson (numDeriv genD, initial step %.3g * max(|par|, 0.05), halved 3 times);",
      "scaled max diff (|a_ij-b_ij|/sqrt(a_ii a_jj)): Richardson vs the neighbouring initial steps",
      "(x%.3g, x%.3g) %.2g,",
      "fdHess relStep 1e-3 vs 1e-4 %.2g (diag %.2g), fdHess 1e-4 vs Richardson %.2g (diag %.2g)"),
      rungs[kbest], rungs[kbest - 1] / rungs[kbest], rungs[kbest + 1] / rungs[kbest], agree_ri, agree_fd, diag_rel(fd3, fd4), agree_fd4_ri, diag_rel(acc, fd4)))
    ivs <- NULL
    if (is.matrix(acc)) {
      fit2 <- fit
      fit2$apVar <- acc
      iv <- tryCatch(intervals(fit2), error = function(e) e)
      if (inherits(iv, "error")) notes <- c(notes, paste("intervals() with accurate apVar fails:", conditionMessage(iv)))
      else ivs <- iv_json(iv)
      if (!is.null(ivs) && any(!is.finite(unlist(lapply(unclass(iv), function(el)
        if (is.list(el)) unlist(lapply(el, as.matrix)) else as.numeric(el))))))
        notes <- c(notes, "some interval bounds are infinite/NaN (written as null)")
    } else notes <- c(notes, paste("accurate Hessian:", acc))
    Pars <- attr(if (is.matrix(acc)) acc else fd4, "Pars")
    if (is.null(Pars)) Pars <- attr(def, "Pars")
    rec <- list(id = cs$id, group = grp,
                apVar_names = if (is.matrix(acc)) rownames(acc) else cs$apVar_names,
                apVar_Pars = if (!is.null(Pars)) as.list(Pars) else cs$apVar_Pars,
                apVar_default = if (is.matrix(def)) mat_rows(def) else def,
                apVar_accurate = if (is.matrix(acc)) mat_rows(acc) else acc,
                apVar_fdHess_1e3 = if (is.matrix(fd3)) mat_rows(fd3) else fd3,
                apVar_fdHess_1e4 = if (is.matrix(fd4)) mat_rows(fd4) else fd4,
                relstep_agreement = agree_fd,
                relstep_agreement_diag = diag_rel(fd3, fd4),
                richardson_agreement = agree_ri,
                richardson_step = rungs[kbest],
                hessian_accurate = mat_rows(Hacc),
                hessian_eigenvalues = ev,
                richardson_ladder = list(steps = rungs, consecutive_scaled_diff = dk),
                fdHess1e4_vs_accurate = agree_fd4_ri,
                default_vs_accurate_diag = diag_rel(acc, def),
                default_vs_accurate_scaled = scaled_diff(acc, def),
                intervals_accurate = ivs,
                notes = paste(notes, collapse = "; "))
    out[[length(out) + 1]] <- rec
    cat(sprintf("%-5s n=%2d  def-vs-acc diag %9.2g scaled %9.2g | fd3/fd4 %8.2g  rich %8.2g  fd4/rich %8.2g\n",
                cs$id, length(Pars), rec$default_vs_accurate_diag, rec$default_vs_accurate_scaled,
                agree_fd, agree_ri, agree_fd4_ri))
  }
}
restore_ns()
dir.create(OUTDIR, showWarnings = FALSE, recursive = TRUE)
outfile <- file.path(OUTDIR, paste0(OUTNAME, ".json"))
write_json(out, outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat(sprintf("\n%d cases -> %s (%.0f s)\n", length(out), outfile,
            as.numeric(difftime(Sys.time(), t0, units = "secs"))))
