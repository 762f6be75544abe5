## Denominator-degrees-of-freedom references (Satterthwaite, Kenward-Roger) for REML models
## that lme4 can express -> validation/references_ddf/ddf.json.
##   Rscript validation/R/ddf_cases.R
## R 4.2.2, nlme 3.1-162, lme4 1.1-31, lmerTest 3.1-3, pbkrtest 0.5-2.
##
## Each case is fitted with lmerTest::lmer (REML) on exactly the data the Python runner builds
## (common.R's load_ds), with a tight bobyqa tolerance (the default tolerance moves the dfs
## by up to ~4e-4 relative, e.g. Pixel), and cross-checked against
##   * the nlme::lme fit of the same model (logLik difference in notes),
##   * a refit with another optimizer (nlminbwrap; max relative df change in notes),
##   * the default-control lmer fit (max relative df change in notes),
##   * pbkrtest::vcovAdj (the KR standard errors).
##
## Per case:
##   coef: estimate, se (unadjusted), df_satterthwaite, df_kenward_roger, se_kenward_roger
##         (summary(fit, ddf = ...); lmerTest's KR uses pbkrtest, SE from the adjusted vcov)
##   anova1_* / anova3_*: lmerTest anova(fit, type = 1 / 3, ddf = ...).
##      NOTE lmerTest's type 1 uses the Doolittle decomposition of the *unweighted* X'X
##      (SAS type I), and its type 3 uses SAS type-III contrasts (independent of the coding).
##      Neither is in general nlme's anova(): nlme's sequential tests are sequential in the
##      GLS metric and its marginal tests are coefficient-block tests under contr.treatment.
##      So two more tables are given, with lmerTest::contestMD on the corresponding L:
##   anova_nlme_sequential_*: L = rows of the upper Cholesky factor R of X'V^-1X/sigma^2
##      (R fixed at the estimate), the term's rows -> F equals nlme's sequential F;
##   anova_nlme_marginal_*: L = identity rows of the term's coefficients -> F equals
##      nlme's anova(type = "marginal") F.
##   (for *_kenward_roger the F is pbkrtest's scaled KR F, not nlme's.)
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(pbkrtest)})
OUTDIR <- file.path(VALDIR, "references_ddf")

TIGHT <- 'control = lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))'
ALT <- quote(lmerControl(optimizer = "nlminbwrap", optCtrl = list(rel.tol = 1e-14, eval.max = 1e4, iter.max = 1e4)))
LME_TIGHT <- quote(lmeControl(rel.tol = 1e-14, msMaxIter = 500, msMaxEval = 2000, tolerance = 1e-10,
                              returnObject = TRUE))

dcase <- function(id, dataset, formula, lme_call, py, notes = NULL, extra = "", name_map = NULL) {
  r_call <- sprintf("lmer(%s, data = %s, REML = TRUE%s, %s)", formula, dataset, extra, TIGHT)
  list(id = id, dataset = dataset, r_call = r_call,
       r_call_default = sprintf("lmer(%s, data = %s, REML = TRUE%s)", formula, dataset, extra),
       lme_call = lme_call, py = py, notes = notes, name_map = name_map)
}
LACT <- "lactase row 24 (pig 8, reg 3) has a missing loglact: dropped (na.omit), nobs 59"

specs <- list(
  dcase("D01", "Orthodont", "distance ~ age + Sex + (1 | Subject)",
        "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject)",
        "lme('distance ~ age + Sex', data=Orthodont, random='~ 1 | Subject')"),
  dcase("D02", "Orthodont", "distance ~ age + (age | Subject)",
        "lme(distance ~ age, data = Orthodont, random = ~ age | Subject)",
        "lme('distance ~ age', data=Orthodont, random='~ age | Subject')",
        notes = "random intercept+slope, unstructured (lme pdSymm = lme4 (age | Subject))"),
  dcase("D03", "Orthodont", "distance ~ Sex * I(age - 11) + (1 | Subject)",
        "lme(distance ~ Sex * I(age - 11), data = Orthodont, random = ~ 1 | Subject)",
        "lme('distance ~ Sex * I(age - 11)', data=Orthodont, random='~ 1 | Subject')",
        notes = "seed S04 model; nlme anova denDF 79/25/79/79"),
  dcase("D04", "sires", "bw ~ 1 + (1 | sire)",
        "lme(bw ~ 1, data = sires, random = ~ 1 | sire)",
        "lme('bw ~ 1', data=sires, random='~ 1 | sire')",
        notes = "seed S07; SAS PROC MIXED (REML, ddfm=satterth): mean 82.55, SE 5.9114, DF 4"),
  dcase("D05", "lactase", "loglact ~ reg * status + (1 | pig)",
        "lme(loglact ~ reg * status, data = lactase, random = ~ 1 | pig, na.action = na.omit)",
        "lme('loglact ~ reg * status', data=lactase, random='~ 1 | pig')",
        notes = c("seed S02 model", LACT), extra = ", na.action = na.omit"),
  dcase("D06", "lactase", "loglact ~ reg * status + (1 | litter/pig)",
        "lme(loglact ~ reg * status, data = lactase, random = ~ 1 | litter/pig, na.action = na.omit)",
        "lme('loglact ~ reg * status', data=lactase, random='~ 1 | litter/pig')",
        notes = c("seed S01 model", LACT,
                  paste("litter variance at the boundary: lme4 gives exactly 0 (singular fit),",
                        "nlme an SD of ~1e-5; logLik/fixef as D05. The Satterthwaite dfs equal",
                        "D05's (lmerTest differentiates on the sd scale, where dV/d(sd) = 0 at",
                        "sd = 0, so the zero component drops out); the KR dfs/SEs do not",
                        "(pbkrtest works on the variance scale with the expected information and",
                        "keeps the zero component) -- see kr_vs_D05. An implementation at an SD",
                        "of ~1e-5 (nlme) should be close to these for KR; for Satterthwaite it",
                        "matches D05 with an observed log-SD/SD-scale Hessian, but not with a",
                        "variance-scale expected information. Compare D06 with care")),
        extra = ", na.action = na.omit"),
  dcase("D07", "Machines", "score ~ Machine + (1 | Worker/Machine)",
        "lme(score ~ Machine, data = Machines, random = ~ 1 | Worker/Machine)",
        "lme('score ~ Machine', data=Machines, random='~ 1 | Worker/Machine')",
        notes = "lme4 expands (1 | Worker/Machine) to (1 | Machine:Worker) + (1 | Worker)"),
  dcase("D08", "Oats", "yield ~ nitro + (1 | Block/Variety)",
        "lme(yield ~ nitro, data = Oats, random = ~ 1 | Block/Variety)",
        "lme(\"Q('yield') ~ nitro\", data=Oats, random='~ 1 | Block/Variety')",
        notes = "patsy: Q('yield') (yield is a Python keyword)"),
  dcase("D09", "ergoStool", "effort ~ Type + (1 | Subject)",
        "lme(effort ~ Type, data = ergoStool, random = ~ 1 | Subject)",
        "lme('effort ~ Type', data=ergoStool, random='~ 1 | Subject')"),
  dcase("D10", "Pixel", "pixel ~ day + I(day^2) + (day | Dog) + (1 | Dog:Side)",
        "lme(pixel ~ day + I(day^2), data = Pixel, random = list(Dog = ~ day, Side = ~ 1))",
        "lme('pixel ~ day + I(day**2)', data=Pixel, random={'Dog': '~ day', 'Side': '~ 1'})",
        notes = "Side nested in Dog: lme list(Dog = ~ day, Side = ~ 1) = lme4 (day | Dog) + (1 | Dog:Side)",
        name_map = list(`I(day^2)` = "I(day ** 2)")),
  dcase("D11", "ratpup", "weight ~ Lsize + treatment + sex + treatment:sex + (1 | Litter)",
        "lme(weight ~ Lsize + treatment + sex + treatment:sex, data = ratpup, random = ~ 1 | Litter)",
        "lme('weight ~ Lsize + treatment + sex + treatment:sex', data=ratpup, random='~ 1 | Litter')",
        notes = paste("RatPupWeight recoded (ratpup.csv: treatment Control/High/Low, sex Female/Male);",
                      "homoscedastic version of seed S06 (lme4 cannot fit varIdent)")),
  dcase("D12", "sim_var", "y ~ x + t + grp + sex + (1 | id)",
        "lme(y ~ x + t + grp + sex, data = sim_var, random = ~ 1 | id)",
        "lme('y ~ x + t + grp + sex', data=sim_var, random='~ 1 | id')",
        notes = "simulated, unbalanced (varying cluster sizes), homoscedastic fit"),
  dcase("D13", "sim_nested", "y ~ x + trt + (1 | a/b)",
        "lme(y ~ x + trt, data = sim_nested, random = ~ 1 | a/b)",
        "lme('y ~ x + trt', data=sim_nested, random='~ 1 | a/b')",
        notes = "simulated nested a/b (b labels repeat across a: lme4 a/b -> (1 | a) + (1 | a:b))")
)

## ---------------------------------------------------------------------------------------
eval_in <- function(call_str, dataset, data, control = NULL) {
  env <- new.env(parent = globalenv())
  assign(dataset, data, envir = env)
  cl <- parse(text = call_str)[[1]]
  if (!is.null(control)) cl$control <- control
  eval(cl, env)
}
capture <- function(expr) {
  msgs <- character(0)
  val <- withCallingHandlers(expr,
    warning = function(w) { msgs <<- c(msgs, conditionMessage(w)); invokeRestart("muffleWarning") },
    message = function(m) { msgs <<- c(msgs, trimws(conditionMessage(m))); invokeRestart("muffleMessage") })
  list(value = val, msgs = unique(msgs))
}
relmax <- function(a, b) max(abs(a / b - 1), na.rm = TRUE)

anova_tab <- function(a) {
  a <- as.data.frame(a)
  if (!nrow(a)) return(list())
  lapply(seq_len(nrow(a)), function(i)
    list(term = rownames(a)[i], NumDF = a[i, "NumDF"], DenDF = a[i, "DenDF"],
         F = a[i, "F value"], p = a[i, "Pr(>F)"]))
}

## coefficient columns per term (term labels of the fixed-effects formula)
term_cols <- function(fit) {
  X <- model.matrix(fit)
  asg <- attr(X, "assign")
  labs <- attr(terms(fit, fixed.only = TRUE), "term.labels")
  setNames(lapply(seq_along(labs), function(k) which(asg == k)), labs)
}

contest_tab <- function(fit, Lfun, ddf) {
  tc <- term_cols(fit)
  lapply(names(tc), function(tm) {
    L <- Lfun(tc[[tm]])
    r <- as.data.frame(contestMD(fit, L, ddf = ddf))
    list(term = tm, NumDF = r[1, "NumDF"], DenDF = r[1, "DenDF"], F = r[1, "F value"],
         p = r[1, "Pr(>F)"])
  })
}

run_case <- function(spec) {
  data <- load_ds(spec$dataset)
  notes <- spec$notes
  cf <- capture(eval_in(spec$r_call, spec$dataset, data))
  fit <- cf$value
  if (length(cf$msgs)) notes <- c(notes, paste("R messages/warnings:", paste(cf$msgs, collapse = " | ")))
  sing <- isSingular(fit, tol = 1e-6)
  ll <- as.numeric(logLik(fit))

  ## nlme cross-check (default and tight lme fit; the larger logLik is used)
  lf <- capture(eval_in(spec$lme_call, spec$dataset, data))
  lt <- capture(eval_in(spec$lme_call, spec$dataset, data, control = LME_TIGHT))
  lll <- max(as.numeric(logLik(lf$value)), as.numeric(logLik(lt$value)))
  dll <- ll - lll
  notes <- c(notes, sprintf("logLik(lmer) - logLik(lme) = %.2e (lme: %s)", dll, spec$lme_call))
  if (abs(dll) > 1e-6) cat(sprintf("  !! %s: lmer/lme logLik differ by %.3g\n", spec$id, dll))
  if (abs(as.numeric(logLik(lf$value)) - lll) > 1e-6)
    notes <- c(notes, sprintf("default-control lme is %.2g below the tight lme logLik",
                              lll - as.numeric(logLik(lf$value))))

  sS <- coef(summary(fit, ddf = "Satterthwaite"))
  sK <- capture(coef(summary(fit, ddf = "Kenward-Roger")))
  if (length(sK$msgs)) notes <- c(notes, paste("KR summary messages:", paste(sK$msgs, collapse = " | ")))
  sK <- sK$value
  ## pbkrtest check of the KR SEs
  seA <- sqrt(diag(as.matrix(vcovAdj(fit))))
  dse <- relmax(sK[, "Std. Error"], seA)
  notes <- c(notes, sprintf("KR SEs equal sqrt(diag(pbkrtest::vcovAdj(fit))) (max rel diff %.1e)", dse))
  if (dse > 1e-8) cat(sprintf("  !! %s: KR SE vs vcovAdj %.3g\n", spec$id, dse))

  ## optimizer sensitivity of the dfs
  fa <- suppressMessages(suppressWarnings(eval_in(spec$r_call, spec$dataset, data, control = ALT)))
  aS <- coef(summary(fa, ddf = "Satterthwaite")); aK <- coef(summary(fa, ddf = "Kenward-Roger"))
  fd <- suppressMessages(suppressWarnings(eval_in(spec$r_call_default, spec$dataset, data)))
  dS <- coef(summary(fd, ddf = "Satterthwaite")); dK <- coef(summary(fd, ddf = "Kenward-Roger"))
  r_alt <- max(relmax(aS[, "df"], sS[, "df"]), relmax(aK[, "df"], sK[, "df"]))
  r_def <- max(relmax(dS[, "df"], sS[, "df"]), relmax(dK[, "df"], sK[, "df"]))
  notes <- c(notes, sprintf(paste("optimizer check: nlminbwrap refit logLik diff %.1e, max rel df diff %.1e;",
                                   "default-control lmer fit logLik diff %.1e, max rel df diff %.1e"),
                            as.numeric(logLik(fa)) - ll, r_alt, as.numeric(logLik(fd)) - ll, r_def))
  if (r_alt > 1e-5) cat(sprintf("  !! %s: dfs move by %.3g (rel) under nlminbwrap\n", spec$id, r_alt))

  coefs <- lapply(seq_len(nrow(sS)), function(i)
    list(term = rownames(sS)[i], estimate = sS[i, "Estimate"], se = sS[i, "Std. Error"],
         df_satterthwaite = sS[i, "df"], df_kenward_roger = sK[i, "df"],
         se_kenward_roger = sK[i, "Std. Error"], t_satterthwaite = sS[i, "t value"],
         p_satterthwaite = sS[i, "Pr(>|t|)"], t_kenward_roger = sK[i, "t value"],
         p_kenward_roger = sK[i, "Pr(>|t|)"]))

  an <- function(type, ddf) {
    r <- capture(anova(fit, type = type, ddf = ddf))
    if (length(r$msgs)) notes <<- c(notes, paste0("anova type ", type, " ", ddf, ": ",
                                                  paste(r$msgs, collapse = " | ")))
    anova_tab(r$value)
  }
  out <- list(id = spec$id, dataset = spec$dataset, r_call = spec$r_call,
              lmmext_call = spec$py, method = "REML", nobs = nobs(fit),
              logLik = ll, logLik_lme = lll, sigma = sigma(fit), singular = sing,
              varcor = lapply(seq_len(nrow(as.data.frame(VarCorr(fit)))), function(i) {
                v <- as.data.frame(VarCorr(fit))[i, ]
                list(grp = v$grp, var1 = if (is.na(v$var1)) NULL else v$var1,
                     var2 = if (is.na(v$var2)) NULL else v$var2, vcov = v$vcov, sdcor = v$sdcor)
              }),
              coef = coefs,
              anova1_satterthwaite = an(1, "Satterthwaite"),
              anova3_satterthwaite = an(3, "Satterthwaite"),
              anova1_kenward_roger = an(1, "Kenward-Roger"),
              anova3_kenward_roger = an(3, "Kenward-Roger"))

  ## nlme-style tests with Satterthwaite / KR dfs
  tc <- term_cols(fit)
  if (length(tc)) {
    M <- solve(as.matrix(vcov(fit)))
    R <- chol(M)                       # upper, M = R'R; cov(R beta) = I
    Lseq <- function(cols) R[cols, , drop = FALSE]
    Lmar <- function(cols) diag(ncol(M))[cols, , drop = FALSE]
    out$anova_nlme_sequential_satterthwaite <- contest_tab(fit, Lseq, "Satterthwaite")
    out$anova_nlme_marginal_satterthwaite <- contest_tab(fit, Lmar, "Satterthwaite")
    out$anova_nlme_sequential_kenward_roger <- contest_tab(fit, Lseq, "Kenward-Roger")
    out$anova_nlme_marginal_kenward_roger <- contest_tab(fit, Lmar, "Kenward-Roger")
    ## compare F with nlme's anova (the lme fit; differences ~ fit precision)
    lfit <- if (as.numeric(logLik(lt$value)) >= as.numeric(logLik(lf$value))) lt$value else lf$value
    aseq <- anova(lfit); amar <- anova(lfit, type = "marginal")
    Fs <- sapply(out$anova_nlme_sequential_satterthwaite, `[[`, "F")
    Fm <- sapply(out$anova_nlme_marginal_satterthwaite, `[[`, "F")
    dseq <- relmax(Fs, aseq[names(tc), "F-value"]); dmar <- relmax(Fm, amar[names(tc), "F-value"])
    F1 <- sapply(out$anova1_satterthwaite, `[[`, "F"); F3 <- sapply(out$anova3_satterthwaite, `[[`, "F")
    d1 <- relmax(F1, aseq[names(tc), "F-value"]); d3 <- relmax(F3, amar[names(tc), "F-value"])
    notes <- c(notes, sprintf(paste("F vs nlme anova (max rel diff): anova_nlme_sequential %.1e,",
                                    "anova_nlme_marginal %.1e; lmerTest type 1 vs nlme sequential %.2g,",
                                    "lmerTest type 3 vs nlme marginal %.2g"), dseq, dmar, d1, d3))
    if (max(dseq, dmar) > 1e-5) cat(sprintf("  !! %s: nlme-style F differ from nlme by %.3g / %.3g\n",
                                           spec$id, dseq, dmar))
    out$nlme_anova <- list(sequential = anova_rows(aseq, TRUE, NA), marginal = anova_rows(amar, TRUE, NA))
  }
  if (!is.null(spec$name_map)) out$name_map <- spec$name_map
  out$notes <- paste(gsub("\\s+", " ", notes), collapse = "; ")
  out
}

cases <- list()
for (spec in specs) {
  cs <- tryCatch(run_case(spec), error = function(e) { cat(spec$id, "FAILED:", conditionMessage(e), "\n"); NULL })
  if (!is.null(cs)) cases[[length(cases) + 1]] <- cs
}

## D06 vs D05 (litter variance 0): KR / Satterthwaite dfs
ids <- sapply(cases, `[[`, "id")
if (all(c("D05", "D06") %in% ids)) {
  c5 <- cases[[which(ids == "D05")]]; c6 <- cases[[which(ids == "D06")]]
  g <- function(cc, k) sapply(cc$coef, `[[`, k)
  msg <- sprintf("kr_vs_D05: max rel diff of dfs to D05 (no litter term): Satterthwaite %.2g, KR %.2g",
                 relmax(g(c6, "df_satterthwaite"), g(c5, "df_satterthwaite")),
                 relmax(g(c6, "df_kenward_roger"), g(c5, "df_kenward_roger")))
  cases[[which(ids == "D06")]]$notes <- paste(c6$notes, msg, sep = "; ")
}

dir.create(OUTDIR, showWarnings = FALSE, recursive = TRUE)
outfile <- file.path(OUTDIR, "ddf.json")
write_json(cases, outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("\n== ddf:", length(cases), "of", length(specs), "cases ->", outfile, "\n")
for (cs in cases) {
  k <- if (length(cs$coef) > 1) 2 else 1
  cc <- cs$coef[[k]]
  cat(sprintf("%-4s %-10s logLik %-18s dll %8.1e %s  %-22s Satt %10.5f  KR %10.5f  seKR/se %.5f\n",
              cs$id, cs$dataset, fmtg(cs$logLik), cs$logLik - cs$logLik_lme,
              if (isTRUE(cs$singular)) "SING" else "    ", cc$term, cc$df_satterthwaite,
              cc$df_kenward_roger, cc$se_kenward_roger / cc$se))
}
