## nlme references for lmmext's nlme conveniences (issue 14, item 6):
##   Rscript validation/R/nlme_conveniences.R  -> validation/references_nlme14/conveniences.json
##
## * partial fixing of variance-function parameters (varConstPower(fixed = list(const = 1)),
##   per stratum, varPower/varExp with named fixed values);
## * R formula spellings: I(x^2) and dotted column names (age.c) in the fixed formula, the
##   random formula and a variance function's formula;
## * contrasts: lme(contrasts = list(...)) with contr.helmert, contr.sum and contr.poly (an
##   ordered factor), and gls on a factor carrying contr.SAS (gls has no contrasts argument:
##   the factor's contrasts attribute is set on the data instead); the REML log-likelihood
##   depends on the coding;
## * subset = Sex == "Female" (lme and gls);
## * ACF(gls fit, form = ~ 1 | Mare) of Ovary, the grouping column not in the model.
##
## Each fit is dumped with common.R's dump_case() (logLik, df, fixef, varStruct, intervals,
## apVar, ...); derived data sets (Orthodont with age.c = age - 11, Oats with the ordered
## factor nitroF = factor(nitro, ordered = TRUE)) are built from the CSVs here and in the
## tests the same way.  Fitted values and residuals of the subset fits are over the subset
## rows.  R 4.2.2 / nlme 3.1-162.
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
OUTDIR <- file.path(VALDIR, "references_nlme14")

datasets <- list(
  sim_var = function() load_ds("sim_var"),
  Orthodont = function() load_ds("Orthodont"),
  OrthodontF = function() { d <- load_ds("Orthodont"); d[d$Sex == "Female", , drop = FALSE] },
  OrthodontC = function() { d <- load_ds("Orthodont"); d$age.c <- d$age - 11; d },
  Oats = function() { d <- load_ds("Oats"); d$nitroF <- factor(d$nitro, ordered = TRUE); d },
  OatsSAS = function() {
    d <- load_ds("Oats"); contrasts(d$Variety) <- "contr.SAS"; d },
  Ovary = function() load_ds("Ovary")
)

SV <- "y ~ x + t + grp + sex"
cases <- list(
  ## --- partial fixing --------------------------------------------------------------
  case("K01", "sim_var lme + varConstPower(~ x, fixed = list(const = 1)), REML", "sim_var",
       sprintf("lme(%s, data = sim_var, random = ~ 1 | id, weights = varConstPower(form = ~ x, fixed = list(const = 1)))", SV),
       "lme('y ~ x + t + grp + sex', data=sim_var, random='~ 1 | id', weights=VarConstPower(form='~ x', fixed={'const': 1}))"),
  case("K02", "sim_var lme + varConstPower(~ x, fixed = list(const = 1)), ML", "sim_var",
       sprintf("lme(%s, data = sim_var, random = ~ 1 | id, weights = varConstPower(form = ~ x, fixed = list(const = 1)), method = \"ML\")", SV),
       "lme('y ~ x + t + grp + sex', data=sim_var, random='~ 1 | id', weights=VarConstPower(form='~ x', fixed={'const': 1}), method='ML')"),
  case("K03", "sim_var gls + varConstPower(const = 2, power = 1, ~ x, fixed = list(power = 1))", "sim_var",
       sprintf("gls(%s, data = sim_var, weights = varConstPower(const = 2, power = 1, form = ~ x, fixed = list(power = 1)))", SV),
       "gls('y ~ x + t + grp + sex', data=sim_var, weights=VarConstPower(const=2, power=1, form='~ x', fixed={'power': 1}))"),
  case("K04", "sim_var gls + varConstPower(~ x | sex, fixed = list(const = c(F = 1)))", "sim_var",
       sprintf("gls(%s, data = sim_var, weights = varConstPower(form = ~ x | sex, fixed = list(const = c(F = 1))))", SV),
       "gls('y ~ x + t + grp + sex', data=sim_var, weights=VarConstPower(form='~ x | sex', fixed={'const': {'F': 1}}))"),
  case("K05", "sim_var gls + varConstPower(~ x | grp, fixed = list(power = c(b = 1)))", "sim_var",
       sprintf("gls(%s, data = sim_var, weights = varConstPower(form = ~ x | grp, fixed = list(power = c(b = 1))))", SV),
       "gls('y ~ x + t + grp + sex', data=sim_var, weights=VarConstPower(form='~ x | grp', fixed={'power': {'b': 1}}))"),
  case("K06", "sim_var gls + varConstPower(~ x | sex, fixed = list(const = c(F = 1), power = c(M = 1.2)))", "sim_var",
       sprintf("gls(%s, data = sim_var, weights = varConstPower(form = ~ x | sex, fixed = list(const = c(F = 1), power = c(M = 1.2))))", SV),
       "gls('y ~ x + t + grp + sex', data=sim_var, weights=VarConstPower(form='~ x | sex', fixed={'const': {'F': 1}, 'power': {'M': 1.2}}))"),
  case("K07", "Orthodont lme + varExp(~ age, fixed = c(expon = 0.02))", "Orthodont",
       "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, weights = varExp(form = ~ age, fixed = c(expon = 0.02)))",
       "lme('distance ~ age + Sex', data=Orthodont, random='~ 1 | Subject', weights=VarExp(form='~ age', fixed={'expon': 0.02}))"),
  case("K08", "Orthodont lme + varPower(~ age | Sex, fixed = c(Female = 0.5))", "Orthodont",
       "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, weights = varPower(form = ~ age | Sex, fixed = c(Female = 0.5)))",
       "lme('distance ~ age + Sex', data=Orthodont, random='~ 1 | Subject', weights=VarPower(form='~ age | Sex', fixed={'Female': 0.5}))"),
  ## --- R formula spellings ---------------------------------------------------------
  case("K09", "Orthodont (age.c = age - 11): I(age.c^2), dotted names in fixed, random and varExp formulas", "OrthodontC",
       "lme(distance ~ Sex + age.c + I(age.c^2), data = OrthodontC, random = ~ age.c | Subject, weights = varExp(form = ~ I(age.c^2)))",
       "lme('distance ~ Sex + age.c + I(age.c^2)', data=OrthodontC, random='~ age.c | Subject', weights=VarExp(form='~ I(age.c^2)'))"),
  ## --- contrasts --------------------------------------------------------------------
  case("K10", "Oats lme, contrasts = list(Variety = \"contr.helmert\")", "Oats",
       "lme(yield ~ nitro + Variety, data = Oats, random = ~ 1 | Block/Variety, contrasts = list(Variety = \"contr.helmert\"))",
       "lme('yield ~ nitro + Variety', data=Oats, random='~ 1 | Block/Variety', contrasts={'Variety': 'contr.helmert'})"),
  case("K11", "Oats lme, ordered nitroF (contr.poly) and contr.sum Variety", "Oats",
       "lme(yield ~ nitroF + Variety, data = Oats, random = ~ 1 | Block/Variety, contrasts = list(nitroF = \"contr.poly\", Variety = \"contr.sum\"))",
       "lme('yield ~ nitroF + Variety', data=Oats, random='~ 1 | Block/Variety', contrasts={'nitroF': 'contr.poly', 'Variety': 'contr.sum'})",
       notes = "nitroF = factor(nitro, ordered = TRUE); R's default contrasts for it are contr.poly anyway"),
  case("K12", "Oats lme, treatment contrasts (the default) for comparison with K10/K11", "Oats",
       "lme(yield ~ nitroF + Variety, data = Oats, random = ~ 1 | Block/Variety, contrasts = list(nitroF = \"contr.treatment\"))",
       "lme('yield ~ nitroF + Variety', data=Oats, random='~ 1 | Block/Variety', contrasts={'nitroF': 'contr.treatment'})"),
  case("K13", "Oats gls + varIdent(~ 1 | Variety), Variety with contr.SAS", "OatsSAS",
       "gls(yield ~ nitro + Variety, data = OatsSAS, weights = varIdent(form = ~ 1 | Variety))",
       "gls('yield ~ nitro + Variety', data=Oats, weights=VarIdent(form='~ 1 | Variety', ref='Victory'), contrasts={'Variety': 'contr.SAS'})",
       notes = paste("gls has no contrasts argument: contrasts(OatsSAS$Variety) <- \"contr.SAS\";",
                     "ref = 'Victory' as nlme's reference stratum is the data's first")),
  ## --- subset ----------------------------------------------------------------------
  case("K14", "Orthodont lme, subset = Sex == \"Female\"", "Orthodont",
       "lme(distance ~ age, data = Orthodont, random = ~ 1 | Subject, subset = Sex == \"Female\")",
       "lme('distance ~ age', data=Orthodont, random='~ 1 | Subject', subset='Sex == \"Female\"')",
       notes = "fitted/resid_* are over the 44 subset rows"),
  case("K15", "Orthodont gls + varIdent(~ 1 | age), subset = Sex == \"Female\"", "Orthodont",
       "gls(distance ~ age, data = Orthodont, weights = varIdent(form = ~ 1 | age), subset = Sex == \"Female\")",
       "gls('distance ~ age', data=Orthodont, weights=VarIdent(form='~ 1 | age'), subset='Sex == \"Female\"')",
       notes = "fitted/resid_* are over the 44 subset rows")
)
SUBSET_DATA <- c(K14 = "OrthodontF", K15 = "OrthodontF")

## apVar of the gls varConstPower fits by an independent derivation: numDeriv's Hessian
## of the REML criterion written out here (beta profiled, sigma free; nlme's apVar order:
## free log(const) by stratum, free power by stratum, log(sigma)).  nlme's own apVar of
## K06 (const fixed in one stratum, power in the other) is not the inverse Hessian of its
## criterion (its variance of log(const.M) is 0.056 where the criterion's is 0.085).
library(numDeriv)
exact_apvar <- function(fit, data, strat) {
  vs <- fit$modelStruct$varStruct
  cf <- as.matrix(coef(vs, unconstrained = FALSE, allCoef = TRUE))
  if (ncol(cf) == 1 && is.null(strat)) colnames(cf) <- "all"
  wf <- attr(vs, "whichFix"); dim(wf) <- dim(cf)
  g <- if (is.null(strat)) rep("all", nrow(data)) else as.character(data[[strat]])
  col <- match(g, colnames(cf))
  X <- model.matrix(fit, data = data); y <- data$y
  cov <- data$x; N <- nrow(X); p <- ncol(X)
  crit <- function(q) {
    M <- cf; k <- 0
    for (i in 1:2) for (j in seq_len(ncol(M))) if (!wf[i, j]) {
      k <- k + 1; M[i, j] <- if (i == 1) exp(q[k]) else q[k] }
    s <- exp(q[length(q)])
    w <- 1 / (M[1, col] + abs(cov)^M[2, col])
    Xw <- X * w; yw <- y * w
    r <- yw - Xw %*% qr.coef(qr(Xw), yw)
    sum(log(w)) - (N - p) * log(s) - sum(r^2) / (2 * s^2) -
      0.5 * as.numeric(determinant(crossprod(Xw))$modulus)
  }
  est <- c(log(cf[1, !wf[1, ]]), cf[2, !wf[2, ]], log(fit$sigma))
  H <- hessian(crit, est)
  list(estimate = est, cov = unname(split(solve(-H), row(H))),
       grad_max = max(abs(grad(crit, est))))
}
EXACT <- list(K03 = NULL, K04 = "sex", K05 = "grp", K06 = "sex")

out <- list()
for (spec in cases) {
  data <- datasets[[spec$dataset]]()
  warns <- character(0)
  fit <- withCallingHandlers(eval_call(spec$r_call, spec$dataset, data),
    warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
  notes <- if (length(warns)) paste("R warnings:", paste(unique(warns), collapse = " | ")) else character(0)
  ddata <- if (spec$id %in% names(SUBSET_DATA)) datasets[[SUBSET_DATA[[spec$id]]]]() else data
  if (spec$id %in% names(SUBSET_DATA)) {
    ## the same fit on the subset rows directly
    alt <- sub(", subset = Sex == \"Female\"", "", spec$r_call, fixed = TRUE)
    f2 <- eval_call(alt, spec$dataset, ddata)
    d <- abs(as.numeric(logLik(f2)) - as.numeric(logLik(fit)))
    notes <- c(notes, sprintf("logLik equals the fit on the subset rows (|diff| %.1e)", d))
    if (d > 1e-8) cat("  !! subset refit differs\n")
  }
  cs <- dump_case(spec, "conveniences", fit, ddata, notes)
  cs$dataset_note <- switch(spec$dataset,
    OrthodontC = "Orthodont.csv with age.c = age - 11",
    Oats = "Oats.csv with nitroF = factor(nitro, ordered = TRUE)",
    OatsSAS = "Oats.csv with contrasts(Variety) <- \"contr.SAS\"", NULL)
  if (!is.null(fit$modelStruct$varStruct))
    cs$varStruct_free <- as.list(coef(fit$modelStruct$varStruct, unconstrained = FALSE))
  cs$fixef_names <- rownames(summary(fit)$tTable)
  if (spec$id %in% names(EXACT)) {
    cs$apVar_exact <- exact_apvar(fit, ddata, EXACT[[spec$id]])
    d <- max(abs(unlist(cs$apVar_exact$cov) - as.numeric(unclass(fit$apVar))))
    cat(sprintf("  %s: apVar max |nlme - exact| %.3g (gradient %.1e)\n", spec$id, d,
                cs$apVar_exact$grad_max))
  }
  out[[length(out) + 1]] <- cs
  cat(sprintf("%-4s logLik %s df %d  %s\n", spec$id, fmtg(cs$logLik), as.integer(cs$df), spec$title))
}

## --- ACF of a gls fit grouped by a column the model does not use --------------------
ov <- load_ds("Ovary")
fm <- gls(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), data = ov)
acf_case <- function(id, r_diag, kwargs) {
  env <- new.env(parent = globalenv()); assign("fm", fm, envir = env)
  a <- eval(parse(text = r_diag)[[1]], envir = env)
  list(id = id, r_fit = "gls(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), data = Ovary)",
       lmmext_call = "gls('follicles ~ np.sin(2*np.pi*Time) + np.cos(2*np.pi*Time)', data=Ovary)",
       logLik = as.numeric(logLik(fm)), r_diag = r_diag, kwargs = kwargs,
       lag = I(a$lag), ACF = I(a$ACF), n_pairs = I(as.numeric(attr(a, "n.used"))))
}
acfs <- list(
  acf_case("A01", "ACF(fm, form = ~ 1 | Mare)", list(form = "~ 1 | Mare")),
  acf_case("A02", "ACF(fm, maxLag = 5, form = ~ 1 | Mare, resType = \"response\")",
           list(form = "~ 1 | Mare", maxLag = 5, resType = "response"))
)
for (a in acfs) cat(sprintf("%s %s: ACF %s\n", a$id, a$r_diag, paste(fmtg(a$ACF, 6), collapse = " ")))

dir.create(OUTDIR, showWarnings = FALSE, recursive = TRUE)
outfile <- file.path(OUTDIR, "conveniences.json")
write_json(list(r_version = R.version.string, nlme_version = as.character(packageVersion("nlme")),
                cases = out, acf = acfs),
           outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("==", length(out), "fits,", length(acfs), "ACF tables ->", outfile, "\n")
