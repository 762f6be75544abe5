## nlme's Variogram() and ACF() output for lmmext's diagnostics
##   Rscript validation/R/diagnostics.R   -> validation/references_diag/diagnostics.json
##
## Each diagnostic is computed twice: on the fit to the CSV rows as they are, and on the
## fit to the rows pre-sorted by the grouping factors (level order, stable), which is the
## order nlme works in internally.  The two agree except where nlme 3.1-162 mixes up rows
## of unsorted data (Variogram with form ~ 1 and unequal group sizes: positions are
## computed in group order but matched in data order; normalized residuals, trap 13);
## the reference is always the pre-sorted computation, and a note records a difference.
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
OUTDIR <- file.path(VALDIR, "references_diag")

OV_F_R <- "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)"
OV_F_PY <- "follicles ~ np.sin(2*np.pi*Time) + np.cos(2*np.pi*Time)"

## fits: R call, lmmext call, grouping columns nlme sorts by
fits <- list(
  wheat_spher = list(dataset = "Wheat2", sort = character(0),
    r = "gls(yield ~ variety - 1, data = Wheat2, correlation = corSpher(c(28, 0.2), form = ~ latitude + longitude, nugget = TRUE))",
    py = "gls(\"Q('yield') ~ variety - 1\", data=Wheat2, correlation=CorSpher(value=[28, 0.2], form='~ latitude + longitude', nugget=True))"),
  wheat_exp = list(dataset = "Wheat2", sort = character(0),
    r = "gls(yield ~ variety - 1, data = Wheat2, correlation = corExp(form = ~ latitude + longitude))",
    py = "gls(\"Q('yield') ~ variety - 1\", data=Wheat2, correlation=CorExp(form='~ latitude + longitude'))"),
  wheat_ind = list(dataset = "Wheat2", sort = character(0),
    r = "gls(yield ~ variety - 1, data = Wheat2)",
    py = "gls(\"Q('yield') ~ variety - 1\", data=Wheat2)"),
  ovary_lme_ar1 = list(dataset = "Ovary", sort = "Mare",
    r = sprintf("lme(%s, data = Ovary, random = list(Mare = pdDiag(~ sin(2*pi*Time))), correlation = corAR1())", OV_F_R),
    py = sprintf("lme('%s', data=Ovary, random={'Mare': 'pdDiag(~ np.sin(2*np.pi*Time))'}, correlation=CorAR1())", OV_F_PY)),
  ovary_gls_ar1 = list(dataset = "Ovary", sort = "Mare",
    r = sprintf('gls(%s, data = Ovary, correlation = corAR1(form = ~ 1 | Mare), method = "ML")', OV_F_R),
    py = sprintf("gls('%s', data=Ovary, correlation=CorAR1(form='~ 1 | Mare'), method='ML')", OV_F_PY)),
  bw_lme_exp = list(dataset = "BodyWeight", sort = "Rat",
    r = "lme(weight ~ Time * Diet, data = BodyWeight, random = ~ Time | Rat, correlation = corExp(form = ~ Time))",
    py = "lme('weight ~ Time * Diet', data=BodyWeight, random='~ Time | Rat', correlation=CorExp(form='~ Time'))"),
  orth_lme = list(dataset = "Orthodont", sort = "Subject",
    r = "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject)",
    py = "lme('distance ~ age + Sex', data=Orthodont, random='~ 1 | Subject')")
)

## diagnostics: id, fit, title, R call (with the fit bound to `fit`), lmmext keyword arguments
dg <- function(id, fit, title, r, py = list()) list(id = id, fit = fit, title = title, r = r, py = py)
diags <- list(
  dg("D01", "wheat_spher", "spatial gls, default (corStruct distances, quantile classes, model curve)",
     "Variogram(fit)"),
  dg("D02", "wheat_spher", "robust (Cressie-Hawkins)", "Variogram(fit, robust = TRUE)", list(robust = TRUE)),
  dg("D03", "wheat_spher", "maxDist", "Variogram(fit, maxDist = 32)", list(maxDist = 32)),
  dg("D04", "wheat_spher", "normalized residuals (no model curve)", 'Variogram(fit, resType = "normalized")',
     list(resType = "normalized")),
  dg("D05", "wheat_exp", "response residuals (model curve scaled by sigma^2)", 'Variogram(fit, resType = "response")',
     list(resType = "response")),
  dg("D06", "wheat_ind", "independent gls, coordinates from form, maxDist (P&B fm1Wheat2)",
     "Variogram(fit, form = ~ latitude + longitude, maxDist = 32)",
     list(form = "~ latitude + longitude", maxDist = 32)),
  dg("D07", "wheat_ind", "manhattan metric, fixed-width classes, nint = 15",
     'Variogram(fit, form = ~ latitude + longitude, metric = "manhattan", collapse = "fixed", nint = 15)',
     list(form = "~ latitude + longitude", metric = "manhattan", collapse = "fixed", nint = 15)),
  dg("D08", "wheat_ind", "user breaks (the smallest distance is prepended)",
     "Variogram(fit, form = ~ latitude + longitude, breaks = c(2, 5, 10, 20, 30))",
     list(form = "~ latitude + longitude", breaks = c(2, 5, 10, 20, 30))),
  dg("D09", "ovary_lme_ar1", "lme ACF, default maxLag", "ACF(fit)"),
  dg("D10", "ovary_lme_ar1", "lme ACF of normalized residuals, maxLag = 10", 'ACF(fit, maxLag = 10, resType = "normalized")',
     list(maxLag = 10, resType = "normalized")),
  dg("D11", "ovary_lme_ar1", "lme Variogram by lag (form ~ 1: positions within Mare)", "Variogram(fit)"),
  dg("D12", "ovary_lme_ar1", "lme Variogram by Time", "Variogram(fit, form = ~ Time)", list(form = "~ Time")),
  dg("D13", "ovary_gls_ar1", "gls ACF (groups of the corStruct)", "ACF(fit)"),
  dg("D14", "ovary_gls_ar1", "gls Variogram by lag within Mare", "Variogram(fit)"),
  dg("D15", "ovary_gls_ar1", "gls ACF of response residuals", 'ACF(fit, resType = "response")',
     list(resType = "response")),
  dg("D16", "bw_lme_exp", "lme corExp(~ Time): corStruct distances within Rat, model curve", "Variogram(fit)"),
  dg("D17", "bw_lme_exp", "lme form ~ Time, maxDist = 42 (P&B)", "Variogram(fit, form = ~ Time, maxDist = 42)",
     list(form = "~ Time", maxDist = 42)),
  dg("D18", "bw_lme_exp", "no collapsing: every within-group pair in nlme's order", 'Variogram(fit, collapse = "none")',
     list(collapse = "none")),
  dg("D19", "bw_lme_exp", "lme ACF", "ACF(fit)"),
  dg("D20", "orth_lme", "Orthodont lme ACF", "ACF(fit)"),
  dg("D21", "orth_lme", "form ~ age: fewer distinct distances than nint (one class each)",
     "Variogram(fit, form = ~ age)", list(form = "~ age")),
  dg("D22", "orth_lme", "robust, nint = 2 (two quantile classes)", "Variogram(fit, form = ~ age, robust = TRUE, nint = 2)",
     list(form = "~ age", robust = TRUE, nint = 2))
)

run_diag <- function(r_call, fit) {
  env <- new.env(parent = globalenv()); assign("fit", fit, envir = env)
  eval(parse(text = r_call)[[1]], envir = env)
}

table_of <- function(v) {
  out <- if (inherits(v, "ACF"))
    list(lag = v$lag, ACF = v$ACF, n_pairs = as.numeric(attr(v, "n.used")))
  else list(variog = v$variog, dist = v$dist, n_pairs = as.numeric(v$n.pairs))
  lapply(out, I)    # arrays even with one row (auto_unbox)
}

same_table <- function(a, b) {
  if (!identical(names(a), names(b)) || length(a[[1]]) != length(b[[1]])) return(FALSE)
  all(mapply(function(x, y) isTRUE(all.equal(x, y, tolerance = 1e-10)), a, b))
}

fitted_models <- list()
get_fit <- function(name, sorted) {
  key <- paste(name, sorted)
  if (is.null(fitted_models[[key]])) {
    f <- fits[[name]]
    data <- load_ds(f$dataset)
    if (sorted && length(f$sort))
      data <- data[do.call(order, unname(as.list(data[f$sort]))), , drop = FALSE]
    fitted_models[[key]] <<- eval_call(f$r, f$dataset, data)
  }
  fitted_models[[key]]
}

cases <- list()
for (d in diags) {
  f <- fits[[d$fit]]
  fit <- get_fit(d$fit, TRUE)
  v <- run_diag(d$r, fit)
  tab <- table_of(v)
  notes <- character(0)
  if (length(f$sort)) {
    v0 <- run_diag(d$r, get_fit(d$fit, FALSE))
    if (same_table(table_of(v0), tab))
      notes <- c(notes, "same result on the CSV row order")
    else
      notes <- c(notes, sprintf(paste("nlme gives different numbers on the CSV row order (rows not sorted",
                                      "by %s); the reference is computed on pre-sorted rows"),
                                paste(f$sort, collapse = ", ")))
  }
  mv <- attr(v, "modelVariog")
  cases[[length(cases) + 1]] <- list(
    id = d$id, title = d$title, fit = d$fit, dataset = f$dataset, r_fit = f$r, lmmext_call = f$py,
    r_diag = d$r, func = if (inherits(v, "ACF")) "ACF" else "Variogram",
    kwargs = if (length(d$py)) d$py else structure(list(), names = character(0)),
    logLik = as.numeric(logLik(fit)), sigma = fit$sigma,
    corStruct = if (is.null(fit$modelStruct$corStruct)) NULL
                else as.list(coef(fit$modelStruct$corStruct, unconstrained = FALSE)),
    table = tab,
    model = if (is.null(mv)) NULL else list(variog = I(mv$variog), dist = I(mv$dist)),
    notes = paste(notes, collapse = "; "))
  cat(sprintf("%s %-14s %-9s rows %4d  model %-3s %s\n", d$id, d$fit, cases[[length(cases)]]$func,
              length(tab[[1]]), if (is.null(mv)) "no" else "yes", paste(notes, collapse = "; ")))
}
dir.create(OUTDIR, showWarnings = FALSE, recursive = TRUE)
outfile <- file.path(OUTDIR, "diagnostics.json")
write_json(cases, outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null")
cat("==", length(cases), "diagnostics ->", outfile, "\n")
