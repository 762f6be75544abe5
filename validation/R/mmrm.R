## nlme references for lmmext.mmrm() and group= on correlation structures (issue 17)
##   Rscript validation/R/mmrm.R   -> validation/references_mmrm/mmrm.json
##
## Data: Orthodont (Potthoff-Roy) with visit = factor(age) (levels 8, 10, 12, 14) and
## t = (age - 8) / 2 + 1 (positions 1..4), made the same way in Python.
##
## * "fits": the mmrm spellings nlme can express, as gls fits of distance ~ Sex * visit:
##   us = corSymm(~ t | Subject) + varIdent(~ 1 | visit); cs / csh = corCompSymm (+
##   varIdent); ar1 / ar1h = corAR1(~ t | Subject) (+ varIdent); sp_exp(age | Subject) =
##   corExp(~ age | Subject) (mmrm's rho^d is exp(-d / range)); us by ML; us on the
##   unbalanced data (rows DROP removed: gaps, dropouts, a late start).
## * "by_sex": group-specific covariances (mmrm's us(visit | Sex / Subject), SAS
##   GROUP=Sex), which nlme cannot fit jointly: each Sex fitted on its own with
##   distance ~ visit.  With distance ~ 0 + Sex + Sex:visit (X block diagonal by Sex) and
##   every covariance parameter separate per Sex, the joint (RE)ML log-likelihood is the
##   sum of the two separate ones (log|V|, log|X'V^-1X| and the residual quadratic form
##   all split by Sex, and the joint parameter space is the product of the two).
## Every fit is the best logLik of two tight optimizer settings (CTRLS).
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
OUTDIR <- file.path(VALDIR, "references_mmrm")
dir.create(OUTDIR, showWarnings = FALSE)

O <- load_ds("Orthodont")
O$visit <- factor(O$age, levels = c(8, 10, 12, 14))
O$t <- (O$age - 8) / 2 + 1
DROP <- c(4, 7, 8, 15, 22, 23, 24, 30, 41, 50, 63, 66, 67, 79, 91, 100, 104)
OU <- O[-DROP, ]
rownames(OU) <- NULL

CTRLS <- list(nlminb = glsControl(msTol = 1e-14, msMaxIter = 1000, tolerance = 1e-10),
              optim_BFGS = glsControl(opt = "optim", msTol = 1e-15, msMaxIter = 2000,
                                      tolerance = 1e-12))

best_fit <- function(call_text, env) {
  best <- NULL; kept <- NA
  for (nm in names(CTRLS)) {
    env$CTRL <- CTRLS[[nm]]
    f <- tryCatch(eval(parse(text = call_text), envir = env), error = function(e) NULL)
    if (!is.null(f) && (is.null(best) || logLik(f) > logLik(best))) { best <- f; kept <- nm }
  }
  list(fit = best, control = kept)
}

dump_gls <- function(fit) {
  cs <- fit$modelStruct$corStruct
  vf <- fit$modelStruct$varStruct
  list(logLik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"),
       method = fit$method, sigma = fit$sigma,
       coef = as.list(coef(fit)), se = as.list(sqrt(diag(vcov(fit)))),
       cor = if (is.null(cs)) list() else as.list(coef(cs, unconstrained = FALSE)),
       var = if (is.null(vf)) list() else as.list(coef(vf, unconstrained = FALSE, allCoef = TRUE)),
       anova = anova_rows(anova(fit), FALSE, fit$dims$N - fit$dims$p),
       anova_marginal = anova_rows(anova(fit, type = "marginal"), FALSE,
                                   fit$dims$N - fit$dims$p),
       nobs = fit$dims$N)
}

UN <- "correlation = corSymm(form = ~ t | Subject), weights = varIdent(form = ~ 1 | visit)"
CASES <- list(
  list(id = "MM01", spelling = "us(visit | Subject)", data = "O",
       r = paste("gls(distance ~ Sex * visit, data = D,", UN, ", control = CTRL)")),
  list(id = "MM02", spelling = "us(visit | Subject), ML", data = "O", reml = FALSE,
       r = paste("gls(distance ~ Sex * visit, data = D,", UN, ", method = 'ML', control = CTRL)")),
  list(id = "MM03", spelling = "cs(visit | Subject)", data = "O",
       r = "gls(distance ~ Sex * visit, data = D, correlation = corCompSymm(form = ~ t | Subject), control = CTRL)"),
  list(id = "MM04", spelling = "csh(visit | Subject)", data = "O",
       r = "gls(distance ~ Sex * visit, data = D, correlation = corCompSymm(form = ~ t | Subject), weights = varIdent(form = ~ 1 | visit), control = CTRL)"),
  list(id = "MM05", spelling = "ar1(visit | Subject)", data = "O",
       r = "gls(distance ~ Sex * visit, data = D, correlation = corAR1(form = ~ t | Subject), control = CTRL)"),
  list(id = "MM06", spelling = "ar1h(visit | Subject)", data = "O",
       r = "gls(distance ~ Sex * visit, data = D, correlation = corAR1(form = ~ t | Subject), weights = varIdent(form = ~ 1 | visit), control = CTRL)"),
  list(id = "MM07", spelling = "sp_exp(age | Subject)", data = "O",
       r = "gls(distance ~ Sex * visit, data = D, correlation = corExp(form = ~ age | Subject), control = CTRL)"),
  list(id = "MM08", spelling = "us(visit | Subject), unbalanced", data = "OU",
       r = paste("gls(distance ~ Sex * visit, data = D,", UN, ", control = CTRL)"))
)

GROUPED <- list(
  list(id = "MG01", spelling = "us(visit | Sex / Subject)",
       r = paste("gls(distance ~ visit, data = D,", UN, ", control = CTRL)")),
  list(id = "MG02", spelling = "us(visit | Sex / Subject), ML", reml = FALSE,
       r = paste("gls(distance ~ visit, data = D,", UN, ", method = 'ML', control = CTRL)")),
  list(id = "MG03", spelling = "ar1h(visit | Sex / Subject)",
       r = "gls(distance ~ visit, data = D, correlation = corAR1(form = ~ t | Subject), weights = varIdent(form = ~ 1 | visit), control = CTRL)"),
  list(id = "MG04", spelling = "cs(visit | Sex / Subject)",
       r = "gls(distance ~ visit, data = D, correlation = corCompSymm(form = ~ t | Subject), control = CTRL)"),
  list(id = "MG05", spelling = "csh(visit | Sex / Subject), unbalanced", data = "OU",
       r = "gls(distance ~ visit, data = D, correlation = corCompSymm(form = ~ t | Subject), weights = varIdent(form = ~ 1 | visit), control = CTRL)")
)

out <- list(fits = list(), by_sex = list())
for (cs in CASES) {
  env <- new.env(); env$D <- get(cs$data)
  b <- best_fit(cs$r, env)
  rec <- c(list(id = cs$id, mmrm = cs$spelling, data = cs$data, r_call = cs$r,
                control = b$control), dump_gls(b$fit))
  out$fits[[cs$id]] <- rec
  cat(sprintf("%s %s logLik %.10f (%s)\n", cs$id, cs$spelling, rec$logLik, b$control))
}
for (cs in GROUPED) {
  data <- if (is.null(cs$data)) "O" else cs$data
  parts <- list(); total <- 0
  for (sx in levels(O$Sex)) {
    env <- new.env(); env$D <- droplevels(subset(get(data), Sex == sx))
    b <- best_fit(cs$r, env)
    parts[[sx]] <- c(list(control = b$control), dump_gls(b$fit))
    total <- total + parts[[sx]]$logLik
  }
  out$by_sex[[cs$id]] <- list(id = cs$id, mmrm = cs$spelling, data = data, r_call = cs$r,
                              logLik_sum = total, levels = parts)
  cat(sprintf("%s %s logLik sum %.10f\n", cs$id, cs$spelling, total))
}
out$drop_rows <- DROP
out$note <- paste("nlme", packageVersion("nlme"), "; R", getRversion(),
                  "; by_sex: separate fits per Sex, joint logLik = logLik_sum")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(OUTDIR, "mmrm.json"))
cat("wrote", file.path(OUTDIR, "mmrm.json"), "\n")
