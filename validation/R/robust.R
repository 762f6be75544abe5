## clubSandwich's cluster-robust covariances and coefficient tests of nlme fits (issue 17)
##   Rscript validation/R/robust.R   -> validation/references_nlme14/robust.json
##
## For each fit: vcov(fit), clubSandwich's vcovCR(fit, type = CR0/CR1/CR1p/CR1S/CR2)
## (default cluster: getGroups(fit, level = 1) for lme, the correlation groups for gls;
## target and inverse_var at their defaults: the fit's own working covariance) and
## coef_test(fit, vcov = <type>, test = c("z", "naive-t", "naive-tp", "Satterthwaite"))
## for CR0, CR1 and CR2.  Every fit is the best of several tight optimizer settings
## (CTRLS below; the case's `control` names the one kept) so that the references are the
## optimum itself, not nlme's early stop: the sandwich moves with the variance parameters.
## Data: Orthodont with three derived columns made the same way in Python:
##   visit = factor(age) (levels 8, 10, 12, 14); t = (age - 8) / 2 + 1 (1..4);
##   pair = sex letter + ceiling(subject number / 2) (M01, M02 -> "M1"), clusters of two
##   subjects that nest the random-effects groups.
## The unbalanced data drop the rows DROP (1-based positions of Orthodont, written to the
## JSON).
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
suppressPackageStartupMessages(library(clubSandwich))
OUTDIR <- file.path(VALDIR, "references_nlme14")

O <- load_ds("Orthodont")
O$visit <- factor(O$age, levels = c(8, 10, 12, 14))
O$t <- (O$age - 8) / 2 + 1
num <- as.integer(substring(as.character(O$Subject), 2))
O$pair <- factor(paste0(substr(as.character(O$Subject), 1, 1), ceiling(num / 2)))
DROP <- c(4, 7, 8, 15, 22, 23, 24, 30, 41, 50, 63, 66, 67, 79, 91, 100, 104)
OU <- O[-DROP, ]
rownames(OU) <- NULL

lme_nlminb <- function(rt) lmeControl(rel.tol = rt, msTol = 1e-12, msMaxIter = 500,
                                      msMaxEval = 2000, tolerance = 1e-10)
CTRLS <- list(
  lme = list(nlminb_1e12 = lme_nlminb(1e-12), nlminb_1e11 = lme_nlminb(1e-11),
             nlminb_1e10 = lme_nlminb(1e-10),
             optim_BFGS = lmeControl(opt = "optim", msTol = 1e-15, msMaxIter = 2000, tolerance = 1e-12)),
  gls = list(nlminb = glsControl(msTol = 1e-14, msMaxIter = 1000, tolerance = 1e-10),
             optim_BFGS = glsControl(opt = "optim", msTol = 1e-15, msMaxIter = 2000, tolerance = 1e-12)))
CTRL_TEXT <- paste(
  "lme: best logLik of lmeControl(rel.tol = 1e-12 | 1e-11 | 1e-10, msTol = 1e-12, msMaxIter = 500,",
  "msMaxEval = 2000, tolerance = 1e-10) and lmeControl(opt = 'optim', msTol = 1e-15, msMaxIter = 2000,",
  "tolerance = 1e-12); gls: best of glsControl(msTol = 1e-14, msMaxIter = 1000, tolerance = 1e-10) and",
  "glsControl(opt = 'optim', msTol = 1e-15, msMaxIter = 2000, tolerance = 1e-12)")

fits <- list(
  list(id = "RB01", data = "O", kind = "lme",
       title = "Orthodont lme distance ~ age * Sex, random = ~ 1 | Subject",
       r = "lme(distance ~ age * Sex, data = O, random = ~ 1 | Subject, control = LME_CTRL)"),
  list(id = "RB02", data = "O", kind = "lme",
       title = "Orthodont lme ~ 1 | Subject + varIdent(~ 1 | Sex) + corAR1(~ 1 | Subject)",
       r = "lme(distance ~ age * Sex, data = O, random = ~ 1 | Subject, weights = varIdent(form = ~ 1 | Sex), correlation = corAR1(form = ~ 1 | Subject), control = LME_CTRL)"),
  list(id = "RB03", data = "O", kind = "gls",
       title = "Orthodont gls MMRM: factor(age) * Sex, corSymm(~ 1 | Subject), varIdent(~ 1 | age)",
       r = "gls(distance ~ visit * Sex, data = O, correlation = corSymm(form = ~ 1 | Subject), weights = varIdent(form = ~ 1 | age), control = GLS_CTRL)"),
  list(id = "RB04", data = "O", kind = "gls",
       title = "Orthodont gls age * Sex, corAR1(~ 1 | Subject), varPower(~ age)",
       r = "gls(distance ~ age * Sex, data = O, correlation = corAR1(form = ~ 1 | Subject), weights = varPower(form = ~ age), control = GLS_CTRL)"),
  list(id = "RB05", data = "OU", kind = "lme",
       title = "unbalanced Orthodont (rows DROP removed) lme random = ~ age | Subject",
       r = "lme(distance ~ age * Sex, data = OU, random = ~ age | Subject, control = LME_CTRL)"),
  list(id = "RB06", data = "OU", kind = "gls",
       title = "unbalanced Orthodont gls MMRM corSymm(~ t | Subject) + varIdent(~ 1 | age)",
       r = "gls(distance ~ visit * Sex, data = OU, correlation = corSymm(form = ~ t | Subject), weights = varIdent(form = ~ 1 | age), control = GLS_CTRL)"),
  list(id = "RB07", data = "O", kind = "gls", method = "ML",
       title = "RB04 by ML (nlme's vcov of an ML gls carries N / (N - p); clubSandwich's bread uses it)",
       r = "gls(distance ~ age * Sex, data = O, correlation = corAR1(form = ~ 1 | Subject), weights = varPower(form = ~ age), method = 'ML', control = GLS_CTRL)"),
  list(id = "RB08", data = "O", kind = "lme", cluster = "pair",
       title = "RB02 with cluster = pair (two subjects per cluster)",
       r = "lme(distance ~ age * Sex, data = O, random = ~ 1 | Subject, weights = varIdent(form = ~ 1 | Sex), correlation = corAR1(form = ~ 1 | Subject), control = LME_CTRL)"),
  list(id = "RB09", data = "O", kind = "gls", cluster = "Subject",
       title = "gls without correlation, varIdent(~ 1 | Sex), cluster = Subject",
       r = "gls(distance ~ age * Sex, data = O, weights = varIdent(form = ~ 1 | Sex), control = GLS_CTRL)"),
  list(id = "RB10", data = "OU", kind = "lme", cluster = "pair",
       title = "unbalanced Orthodont lme random = ~ 1 | Subject + corAR1(~ 1 | Subject), cluster = pair",
       r = "lme(distance ~ age * Sex, data = OU, random = ~ 1 | Subject, correlation = corAR1(form = ~ 1 | Subject), control = LME_CTRL)")
)

TYPES <- c("CR0", "CR1", "CR1p", "CR1S", "CR2")
TEST_TYPES <- c("CR0", "CR1", "CR2")
mat <- function(m) { m <- as.matrix(m); unname(split(as.numeric(m), row(m))) }

cases <- list()
for (f in fits) {
  d <- get(f$data)
  env <- new.env(); assign(f$data, d, envir = env)
  ## the best of several tight settings: nlminb with the smallest rel.tol it finishes
  ## with (it reports "singular convergence" on some fits at rel.tol 1e-12) and optim's
  ## BFGS; the fit with the highest logLik is kept (control: which one)
  best <- NULL; used <- NA
  for (k in names(CTRLS[[f$kind]])) {
    assign("LME_CTRL", CTRLS$lme[[k]], envir = env)
    assign("GLS_CTRL", CTRLS$gls[[k]], envir = env)
    cand <- tryCatch(eval(parse(text = f$r)[[1]], env), error = function(e) NULL)
    if (!is.null(cand) && (is.null(best) || logLik(cand) > logLik(best))) { best <- cand; used <- k }
  }
  fit <- best
  cl <- if (is.null(f$cluster)) NULL else d[[f$cluster]]
  vc <- function(type) if (is.null(cl)) vcovCR(fit, type = type) else vcovCR(fit, type = type, cluster = cl)
  V <- lapply(setNames(TYPES, TYPES), function(tp) mat(vc(tp)))
  ct <- lapply(setNames(TEST_TYPES, TEST_TYPES), function(tp) {
    r <- coef_test(fit, vcov = vc(tp), test = c("z", "naive-t", "naive-tp", "Satterthwaite"))
    list(estimate = r$beta, SE = r$SE, t = r$tstat, df_z = rep(Inf, nrow(r)), p_z = r$p_z,
         df_t = r$df_t, p_t = r$p_t, df_tp = r$df_tp, p_tp = r$p_tp,
         df_Satt = r$df_Satt, p_Satt = r$p_Satt)
  })
  ct <- lapply(ct, function(x) { x$df_z <- NULL; x })
  J <- nlevels(droplevels(as.factor(attr(vc("CR0"), "cluster"))))
  cases[[length(cases) + 1]] <- list(
    id = f$id, title = f$title, kind = f$kind, data = f$data,
    method = if (is.null(f$method)) "REML" else f$method,
    r_call = f$r, control = used, cluster = if (is.null(f$cluster)) NA else f$cluster,
    logLik = as.numeric(logLik(fit)), sigma = fit$sigma, N = nrow(d), J = J,
    fixef_names = names(fixef_or_coef <- if (f$kind == "lme") fixef(fit) else coef(fit)),
    fixef = unname(fixef_or_coef), vcov = mat(vcov(fit)),
    vcovCR = V, coef_test = ct)
  cat(sprintf("%-5s %-4s %-11s logLik %.10f  J %2d  CR2 SE[1] %.8g  Satt df %s  %s\n", f$id, f$kind, used,
              as.numeric(logLik(fit)), J, sqrt(V$CR2[[1]][1]),
              paste(sprintf("%.4g", ct$CR2$df_Satt), collapse = " "), f$title))
}

## clubSandwich's refusal of a cluster that cuts the random-effects groups (age is crossed
## with Subject), and of a single cluster
fit1 <- lme(distance ~ age * Sex, data = O, random = ~ 1 | Subject)
err <- function(expr) tryCatch({ expr; NA_character_ }, error = function(e) conditionMessage(e))
errors <- list(
  not_nested = err(vcovCR(fit1, cluster = O$age, type = "CR2")),
  not_nested_gls = err(vcovCR(gls(distance ~ age * Sex, data = O, correlation = corAR1(form = ~ 1 | Subject)),
                              cluster = O$age, type = "CR2")),
  one_cluster = err(vcovCR(fit1, cluster = rep(1, nrow(O)), type = "CR2")),
  wrong_length = err(vcovCR(fit1, cluster = O$Subject[1:50], type = "CR2")),
  unknown_type = err(vcovCR(fit1, type = "CR7")))
print(errors)

out <- list(
  description = paste(
    "clubSandwich vcovCR / coef_test on nlme fits (validation/R/robust.R). vcovCR[[type]]",
    "and vcov are row lists in fixef order; coef_test[[type]] has per-coefficient vectors",
    "(z test: df Inf; naive-t: J - 1; naive-tp: J - p; Satterthwaite: clubSandwich's).",
    "Data: Orthodont (O) with visit = factor(age), t = (age - 8) / 2 + 1, pair = sex letter +",
    "ceiling(subject number / 2); OU = O without the rows drop_rows (1-based)."),
  R = R.version.string, nlme = as.character(packageVersion("nlme")),
  clubSandwich = as.character(packageVersion("clubSandwich")),
  drop_rows = DROP, controls = CTRL_TEXT,
  cases = cases, errors = errors)
dir.create(OUTDIR, showWarnings = FALSE, recursive = TRUE)
outfile <- file.path(OUTDIR, "robust.json")
write_json(out, outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("->", outfile, "\n")
