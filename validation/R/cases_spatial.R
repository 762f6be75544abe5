## Spatial correlation cases: corExp/corGaus/corSpher/corLin/corRatio in lme on simulated
## 2-D field data, euclidean/manhattan/maximum metrics, REML and ML, a gls on the same data
## and two further Wheat2 gls fits -> validation/references/spatial.json
##   Rscript validation/R/cases_spatial.R          (cases only; ~20 s)
##   Rscript validation/R/cases_spatial.R --data   (first rewrite data/sim_spatial.csv and its
##                                                  entry in data/levels.json, then the cases)
##
## The data set is written here, not by export_data.R, and only with --data: the CSV is the
## source of truth (another R version's RNG could change it). export_data.R rewrites
## levels.json from its own list, so run this script with --data after it.
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))

## ---------------------------------------------------------------- simulated data
## sim_spatial: 36 fields F01..F36 (34 with 8-12 plots, F35 with 2 plots, F36 with a single
## plot: a 1x1 correlation block), plots at irregular (x, y) in a 40 m x 40 m field (0.1 m
## grid, at least 1 m apart within a field), treatment trt (ctl/fert, balanced within field
## in random order), covariate moist ~ U(10, 30). Response
##   biomass = 40 + 3 [fert] + 0.25 moist + b_field + e,   b_field ~ N(0, 2.5^2),
## e within field: SD 2, exponential correlation 0.75 exp(-d / 8) (nugget 0.25).
make_sim_spatial <- function() {
  set.seed(20240615)
  nf <- 36
  sizes <- c(sample(8:12, nf - 2, replace = TRUE), 2, 1)
  rows <- list()
  for (i in seq_len(nf)) {
    n <- sizes[i]
    repeat {
      x <- round(runif(n, 0, 40), 1); y <- round(runif(n, 0, 40), 1)
      D <- as.matrix(dist(cbind(x, y)))
      if (n == 1 || min(D[upper.tri(D)]) >= 1) break
    }
    trt <- sample(rep(c("ctl", "fert"), length.out = n))
    moist <- round(runif(n, 10, 30), 1)
    C <- 0.75 * exp(-D / 8); diag(C) <- 1
    e <- 2 * as.numeric(t(chol(C)) %*% rnorm(n))
    b <- rnorm(1, 0, 2.5)
    biomass <- 40 + 3 * (trt == "fert") + 0.25 * moist + b + e
    rows[[i]] <- data.frame(field = sprintf("F%02d", i), x = x, y = y, trt = trt,
                            moist = moist, biomass = round(biomass, 2))
  }
  d <- do.call(rbind, rows)
  d$field <- factor(d$field, levels = sprintf("F%02d", 1:nf))
  d$trt <- factor(d$trt, levels = c("ctl", "fert"))
  d
}

write_sim_spatial <- function() {
  d <- make_sim_spatial()
  out <- d
  for (v in c("x", "y", "moist", "biomass")) {   # 1-2 decimals: %.15g reads back exactly
    out[[v]] <- sprintf("%.15g", d[[v]])
    stopifnot(identical(as.numeric(out[[v]]), d[[v]]))
  }
  out$field <- as.character(d$field); out$trt <- as.character(d$trt)
  write.csv(out, file.path(DATADIR, "sim_spatial.csv"), row.names = FALSE,
            quote = which(names(d) %in% c("field", "trt")), na = "NA")
  ## merge into levels.json (same layout as export_data.R writes)
  lvfile <- file.path(DATADIR, "levels.json")
  lv <- fromJSON(lvfile, simplifyVector = FALSE)
  lv <- lapply(lv, function(ds) lapply(ds, function(col)
    list(ordered = col$ordered, levels = I(as.character(unlist(col$levels))))))
  lv$sim_spatial <- list(field = list(ordered = FALSE, levels = I(levels(d$field))),
                         trt = list(ordered = FALSE, levels = I(levels(d$trt))))
  write_json(lv, lvfile, auto_unbox = TRUE, pretty = TRUE)
  back <- load_ds("sim_spatial")
  ok <- identical(dim(back), dim(d)) && all(mapply(identical, d, back))
  cat("sim_spatial:", nrow(d), "rows,", nlevels(d$field), "fields",
      if (ok) "(round trip identical)" else "(ROUND TRIP FAILED)", "\n")
  if (!ok) stop("sim_spatial round trip failed")
}
if ("--data" %in% commandArgs(TRUE)) write_sim_spatial()

## ---------------------------------------------------------------- cases
SP_F <- "biomass ~ trt + moist"
## lme with a random field intercept and a spatial structure within field
sp_lme <- function(cor_r, cor_py, method = NULL) {
  m_r <- if (is.null(method)) "" else sprintf(', method = "%s"', method)
  m_py <- if (is.null(method)) "" else sprintf(", method='%s'", method)
  c(sprintf("lme(%s, data = sim_spatial, random = ~ 1 | field, correlation = %s%s)", SP_F, cor_r, m_r),
    sprintf("lme('%s', data=sim_spatial, random='~ 1 | field', correlation=%s%s)", SP_F, cor_py, m_py))
}
WH <- function(cor_r, cor_py, method = NULL) {
  m_r <- if (is.null(method)) "" else sprintf(', method = "%s"', method)
  m_py <- if (is.null(method)) "" else sprintf(", method='%s'", method)
  c(sprintf("gls(yield ~ variety - 1, data = Wheat2, correlation = %s%s)", cor_r, m_r),
    sprintf("gls(\"Q('yield') ~ variety - 1\", data=Wheat2, correlation=%s%s)", cor_py, m_py))
}
YIELD_NOTE <- paste("the response 'yield' is a Python keyword: patsy needs Q('yield') (a bare",
                    "'yield ~ ...' is a SyntaxError in patsy)")
SINGLE_NOTE <- "field F36 has one plot (1x1 correlation block), F35 two plots"
cs <- function(id, title, dataset, calls, notes = NULL, ...) {
  if (dataset == "Wheat2") notes <- c(notes, YIELD_NOTE)
  if (dataset == "sim_spatial") notes <- c(notes, SINGLE_NOTE)
  case(id, title, dataset, calls[1], calls[2], notes = notes, ...)
}
XY <- "~ x + y | field"

specs <- list(
  cs("P01", "sim_spatial lme ~1|field + corExp(~x+y|field, nugget)", "sim_spatial",
     sp_lme(sprintf("corExp(form = %s, nugget = TRUE)", XY),
            sprintf("CorExp(form='%s', nugget=True)", XY)),
     notes = "the simulation model (true range 8, nugget 0.25)"),
  cs("P02", "sim_spatial lme ~1|field + corExp(~x+y|field, nugget), ML", "sim_spatial",
     sp_lme(sprintf("corExp(form = %s, nugget = TRUE)", XY),
            sprintf("CorExp(form='%s', nugget=True)", XY), method = "ML")),
  cs("P03", "sim_spatial lme ~1|field + corGaus(~x+y|field, nugget)", "sim_spatial",
     sp_lme(sprintf("corGaus(form = %s, nugget = TRUE)", XY),
            sprintf("CorGaus(form='%s', nugget=True)", XY))),
  cs("P04", "sim_spatial lme ~1|field + corGaus(~x+y|field), ML", "sim_spatial",
     sp_lme(sprintf("corGaus(form = %s)", XY), sprintf("CorGaus(form='%s')", XY), method = "ML")),
  cs("P05", "sim_spatial lme ~1|field + corSpher(~x+y|field)", "sim_spatial",
     sp_lme(sprintf("corSpher(form = %s)", XY), sprintf("CorSpher(form='%s')", XY))),
  cs("P06", "sim_spatial lme ~1|field + corSpher(c(20, 0.3), ~x+y|field, nugget), ML", "sim_spatial",
     sp_lme(sprintf("corSpher(c(20, 0.3), form = %s, nugget = TRUE)", XY),
            sprintf("CorSpher(value=[20, 0.3], form='%s', nugget=True)", XY), method = "ML"),
     notes = paste("two local maxima: range 21.43 / nugget 0.321 (logLik -747.8005, reached by nlme",
                   "from the default start and from c(20, 0.3), c(25, 0.4), c(18, 0.25)) and range 14.75 /",
                   "nugget 0.196 (logLik -748.0059, reached by nlme from c(14.8, 0.2) and c(10, 0.1), by",
                   "lmmext from the default start); start as given")),
  cs("P07", "sim_spatial lme ~1|field + corLin(~x+y|field): maximum on a kink", "sim_spatial",
     sp_lme(sprintf("corLin(form = %s)", XY), sprintf("CorLin(form='%s')", XY)),
     notes = paste("the REML criterion is maximal on a kink: range = sqrt(65) = 8.0622577, a",
                   "pairwise distance (corLin's correlation 1 - d / range has a slope jump at",
                   "d = range), so it is not differentiable at the estimate and the apVar",
                   "(finite-difference Hessian) is not defined there; nlme reports range",
                   "8.06225762, 1.3e-7 short of the kink. corLin(nugget = TRUE) from the default",
                   "start stops with nlminb false convergence in nlme (see P12, P13)")),
  cs("P08", "sim_spatial lme ~1|field + corRatio(~x+y|field, nugget)", "sim_spatial",
     sp_lme(sprintf("corRatio(form = %s, nugget = TRUE)", XY),
            sprintf("CorRatio(form='%s', nugget=True)", XY))),
  cs("P09", "sim_spatial lme ~1|field + corRatio(~x+y|field), ML", "sim_spatial",
     sp_lme(sprintf("corRatio(form = %s)", XY), sprintf("CorRatio(form='%s')", XY), method = "ML")),
  cs("P10", "sim_spatial lme ~1|field + corExp(~x+y|field, nugget, metric = manhattan)", "sim_spatial",
     sp_lme(sprintf('corExp(form = %s, nugget = TRUE, metric = "manhattan")', XY),
            sprintf("CorExp(form='%s', nugget=True, metric='manhattan')", XY)),
     notes = paste("exp(-(|dx| + |dy|) / range) is a product of 1-D exponential correlations,",
                   "so positive definite")),
  cs("P11", "sim_spatial lme ~1|field + corExp(~x+y|field, metric = maximum), ML", "sim_spatial",
     sp_lme(sprintf('corExp(form = %s, metric = "maximum")', XY),
            sprintf("CorExp(form='%s', metric='maximum')", XY), method = "ML"),
     notes = paste("in 2-D max(|dx|, |dy|) = (|dx + dy| + |dx - dy|) / 2, so the correlation is a",
                   "product of 1-D exponentials in rotated coordinates: positive definite")),
  cs("P12", "sim_spatial lme ~1|field + corLin(c(11.4, 0.24), nugget, fixed = TRUE)", "sim_spatial",
     sp_lme(sprintf("corLin(c(11.4, 0.24), form = %s, nugget = TRUE, fixed = TRUE)", XY),
            sprintf("CorLin(value=[11.4, 0.24], form='%s', nugget=True, fixed=True)", XY)),
     notes = paste("corLin with nugget, parameters held: the fit with free parameters stops with",
                   "nlminb false convergence in nlme from the default start and from c(10, 0.2) and",
                   "c(11.37, 0.236); lmmext's free fit reaches range 11.371895 (on the kink at that",
                   "pairwise distance) / nugget 0.236, where nlme's criterion (fixed = TRUE) is",
                   "-751.2051075, above nlme's best free fit (P13)")),
  cs("P13", "sim_spatial lme ~1|field + corLin(c(20, 0.3), ~x+y|field, nugget)", "sim_spatial",
     sp_lme(sprintf("corLin(c(20, 0.3), form = %s, nugget = TRUE)", XY),
            sprintf("CorLin(value=[20, 0.3], form='%s', nugget=True)", XY)),
     notes = paste("from c(20, 0.3) and c(8, 0.3) nlme reaches this local maximum (range 19.07416 /",
                   "19.07436, |dlogLik| 5e-9), a smooth one between the kinks at the pairwise",
                   "distances 19.0591 and 19.0961; the path to it crosses kinks. The criterion is",
                   "higher elsewhere: -751.2051 on the kink range = 11.371895 (a pairwise distance),",
                   "nugget 0.236 (lmmext's fit from the default start), where nlme's free fit fails",
                   "(see P12)")),
  cs("P14", "sim_spatial gls corExp(~x+y|field, nugget) (no random effect)", "sim_spatial",
     c(sprintf("gls(%s, data = sim_spatial, correlation = corExp(form = %s, nugget = TRUE))", SP_F, XY),
       sprintf("gls('%s', data=sim_spatial, correlation=CorExp(form='%s', nugget=True))", SP_F, XY)),
     notes = paste("without the random field intercept the exponential range absorbs the",
                   "within-field constant correlation (range ~ 84 m in 40 m fields)")),
  cs("P15", "Wheat2 gls corLin(c(28, 0.2), nugget)", "Wheat2",
     WH("corLin(c(28, 0.2), form = ~ latitude + longitude, nugget = TRUE)",
        "CorLin(value=[28, 0.2], form='~ latitude + longitude', nugget=True)"),
     name_map = noint_map("variety"),
     notes = paste("one block (no groups). The corLin likelihood on Wheat2 is rugged (kinks where",
                   "the range equals one of the many repeated grid distances; corLin is not a valid",
                   "correlation function in 2-D, though the fitted matrix is positive definite here)",
                   "and multimodal: from c(28, 0.2) and c(12, 0.3) nlme stops at this local maximum",
                   "(range 10.80), from c(15, 0.2) it reaches range 42.68 (logLik -532.927), from the",
                   "default start and c(40, 0.1) a flat ridge towards range -> infinity (-533.4185);",
                   "without nugget the range diverges (5.8e7). Start as given")),
  cs("P16", "Wheat2 gls corExp(~latitude + longitude, nugget), ML", "Wheat2",
     WH("corExp(form = ~ latitude + longitude, nugget = TRUE)",
        "CorExp(form='~ latitude + longitude', nugget=True)", method = "ML"),
     name_map = noint_map("variety"),
     notes = paste("the REML fit of this model degenerates (range -> infinity, nugget -> 0; see C16);",
                   "the ML fit has an interior optimum, reached by nlme from the default start and",
                   "from c(5, 0.1), c(10, 0.2), c(20, 0.2), c(30, 0.1), c(50, 0.3), c(3, 0.05)",
                   "(|dlogLik| < 1e-8)"))
)

cases <- run_cases(specs, "spatial")

## smallest eigenvalue of the fitted correlation matrices (corLin/corSpher are not valid
## correlation functions in 2-D for every range; nlme would evaluate its criterion anyway)
for (spec in specs) {
  fit <- suppressWarnings(eval_call(spec$r_call, spec$dataset, load_ds(spec$dataset)))
  cm <- corMatrix(fit$modelStruct$corStruct); if (!is.list(cm)) cm <- list(cm)
  ev <- min(vapply(cm, function(M) min(eigen(M, symmetric = TRUE, only.values = TRUE)$values), 0))
  cst <- fit$modelStruct$corStruct
  kink <- ""
  if (inherits(cst, "corLin")) {   # slope jumps where the range equals a pairwise distance
    rng <- coef(cst, unconstrained = FALSE)[["range"]]
    gap <- min(abs(unique(unlist(getCovariate(cst))) - rng)) / rng
    kink <- sprintf("; corLin range %.10g, nearest pairwise distance %.2g relative away", rng, gap)
  }
  cat(sprintf("%-5s min eigenvalue of the fitted correlation matrices %.4g%s%s\n", spec$id, ev,
              if (ev <= 0) "  !! NOT positive definite" else "", kink))
}
