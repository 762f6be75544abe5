## emmeans' estimated marginal means and contrasts of nlme and lme4 fits (issue 16)
##   Rscript validation/R/emmeans.R   -> validation/references_emmeans/emmeans.json
##
## Needs r-cran-emmeans (1.8.4), lme4 and pbkrtest (Kenward-Roger of lmer fits) and
## lmerTest (Satterthwaite of lmer fits).  Every nlme fit is the best logLik of tight
## optimizer settings (CTRLS), so the references are the optimum itself.
## Data (made the same way in Python):
##   Orthodont: visit = factor(age) (levels 8, 10, 12, 14); OU = Orthodont without the
##     rows DROP (1-based, as robust.R: unbalanced);
##   Oats: nf = factor(nitro) (levels 0, 0.2, 0.4, 0.6);
##   ergoStool as exported.
## Each table is as.data.frame() of emmeans' summary (columns renamed: lower.CL ->
## lower_CL, t.ratio -> t_ratio, p.value -> p_value) in emmeans' row order.
## gls containment DFs: emmeans' df.error for gls is N - p - (number of variance and
## correlation parameters); lmmext's gls DFs are nlme's N - p, so the gls tables pass
## df = N - p (emmeans' df option) and `gls_df_error` records emmeans' own value.
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
suppressPackageStartupMessages({
  library(emmeans); library(lme4); library(pbkrtest); library(lmerTest)
})
OUTDIR <- file.path(VALDIR, "references_emmeans")
emm_options(msg.interaction = FALSE)

O <- load_ds("Orthodont")
O$visit <- factor(O$age, levels = c(8, 10, 12, 14))
DROP <- c(4, 7, 8, 15, 22, 23, 24, 30, 41, 50, 63, 66, 67, 79, 91, 100, 104)
OU <- O[-DROP, ]
rownames(OU) <- NULL
E <- load_ds("ergoStool")
Oa <- load_ds("Oats")
Oa$nf <- factor(Oa$nitro)

CTRLS <- list(
  lme = list(nlminb = lmeControl(rel.tol = 1e-12, msTol = 1e-12, msMaxIter = 500,
                                 msMaxEval = 2000, tolerance = 1e-10),
             nlminb11 = lmeControl(rel.tol = 1e-11, msTol = 1e-12, msMaxIter = 500,
                                   msMaxEval = 2000, tolerance = 1e-10),
             optim = lmeControl(opt = "optim", msTol = 1e-15, msMaxIter = 2000, tolerance = 1e-12)),
  gls = list(nlminb = glsControl(msTol = 1e-14, msMaxIter = 1000, tolerance = 1e-10),
             optim = glsControl(opt = "optim", msTol = 1e-15, msMaxIter = 2000, tolerance = 1e-12)))

best_fit <- function(call_text, kind) {
  best <- NULL; used <- NA
  for (k in names(CTRLS[[kind]])) {
    CTRL <<- CTRLS[[kind]][[k]]
    cand <- tryCatch(suppressWarnings(eval(parse(text = call_text)[[1]], globalenv())),
                     error = function(e) NULL)
    if (!is.null(cand) && (is.null(best) || logLik(cand) > logLik(best))) { best <- cand; used <- k }
  }
  attr(best, "control_used") <- used
  best
}
LMER_CTRL <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 0.2, rhoend = 1e-12, maxfun = 1e5))

tab <- function(x) {
  d <- as.data.frame(x)
  names(d) <- sub("^lower\\.CL$", "lower_CL", names(d))
  names(d) <- sub("^upper\\.CL$", "upper_CL", names(d))
  names(d) <- sub("^t\\.ratio$", "t_ratio", names(d))
  names(d) <- sub("^p\\.value$", "p_value", names(d))
  names(d) <- sub("^asymp\\.LCL$", "lower_CL", names(d))
  names(d) <- sub("^asymp\\.UCL$", "upper_CL", names(d))
  names(d) <- sub("^z\\.ratio$", "t_ratio", names(d))
  for (j in seq_along(d)) if (is.factor(d[[j]])) d[[j]] <- as.character(d[[j]])
  d
}
cases <- list()
add <- function(id, title, call_text, fit, tables, extra = list()) {
  cases[[id]] <<- c(list(id = id, title = title, r_call = call_text,
                         control = attr(fit, "control_used"),
                         logLik = as.numeric(logLik(fit)), tables = tables), extra)
  cat(sprintf("%-4s logLik %.10f  %s\n", id, as.numeric(logLik(fit)), title))
}

## EM1: an unstructured MMRM (corSymm + varIdent by visit), by-visit comparisons of Sex
c1 <- "gls(distance ~ Sex * visit, data = O, correlation = corSymm(form = ~ 1 | Subject), weights = varIdent(form = ~ 1 | visit), control = CTRL)"
g1 <- best_fit(c1, "gls")
Np <- nrow(O) - length(coef(g1))
em <- emmeans(g1, ~ Sex | visit, df = Np)
emv <- emmeans(g1, ~ visit | Sex, df = Np)
sat <- tryCatch(emmeans(g1, ~ Sex | visit, mode = "satterthwaite"), error = function(e) NULL)
sat_mode <- if (is.null(sat)) NA else attr(sat@dffun, "mesg")
add("EM1", "Orthodont gls MMRM Sex * visit, corSymm(~ 1 | Subject) + varIdent(~ 1 | visit)",
    c1, g1, list(
      emmeans = tab(summary(em)),
      pairs = tab(pairs(em)),
      revpairs_ci = tab(confint(pairs(em, reverse = TRUE))),
      visit_poly = tab(contrast(emv, "poly")),
      visit_consec = tab(contrast(emv, "consec")),
      visit_trt = tab(contrast(emv, "trt.vs.ctrl", ref = 1)),
      visit_pairs_mvt_ci = tab(confint(pairs(emv), adjust = "mvt")),
      asymptotic = tab(summary(emmeans(g1, ~ Sex | visit, mode = "asymptotic"))),
      satterthwaite = if (is.null(sat)) NULL else tab(summary(sat)),
      satterthwaite_pairs = if (is.null(sat)) NULL else tab(pairs(sat))),
    list(gls_df_error = summary(emmeans(g1, ~ Sex | visit, mode = "df.error"))$df[1],
         satterthwaite_mode = sat_mode))

## EM1ML: the same by ML (nlme's gls vcov already carries N / (N - p))
c1m <- sub("control = CTRL", "method = 'ML', control = CTRL", c1)
g1m <- best_fit(c1m, "gls")
add("EM1ML", "EM1 by ML", c1m, g1m,
    list(emmeans = tab(summary(emmeans(g1m, ~ Sex | visit, df = Np)))))

## EM2: random intercept, every adjustment (ergoStool, four stool types)
c2 <- "lme(effort ~ Type, data = E, random = ~ 1 | Subject, control = CTRL)"
m2 <- best_fit(c2, "lme")
e2 <- emmeans(m2, ~ Type)
adj <- c("tukey", "scheffe", "sidak", "bonferroni", "holm", "fdr", "dunnettx", "mvt", "none")
pt <- list(emmeans = tab(summary(e2)))
for (a in adj) pt[[paste0("pairs_", a)]] <- tab(summary(pairs(e2), adjust = a))
for (a in c("tukey", "scheffe", "sidak", "bonferroni", "holm", "mvt", "none"))
  pt[[paste0("pairs_ci_", a)]] <- tab(confint(pairs(e2), adjust = a))
pt$trt_vs_ctrl <- tab(summary(contrast(e2, "trt.vs.ctrl", ref = 2)))
pt$trt_vs_ctrl_ci <- tab(confint(contrast(e2, "trt.vs.ctrl", ref = 2)))
pt$eff <- tab(contrast(e2, "eff"))
pt$consec <- tab(contrast(e2, "consec"))
pt$custom <- tab(contrast(e2, list(`T1 vs rest` = c(1, -1/3, -1/3, -1/3), `T2 - T3` = c(0, 1, -1, 0))))
pt$poly_tukey <- tab(summary(contrast(e2, "poly"), adjust = "tukey"))
add("EM2", "ergoStool lme effort ~ Type, random = ~ 1 | Subject", c2, m2, pt)

c2m <- sub("control = CTRL", "method = 'ML', control = CTRL", c2)
m2m <- best_fit(c2m, "lme")
add("EM2ML", "EM2 by ML (emmeans: vcov x N / (N - p))", c2m, m2m,
    list(emmeans = tab(summary(emmeans(m2m, ~ Type))), pairs = tab(pairs(emmeans(m2m, ~ Type)))))

## EM2KR / EM2SAT: the same model in lme4, Kenward-Roger (pbkrtest) and Satterthwaite (lmerTest)
l2 <- lmer(effort ~ Type + (1 | Subject), data = E, control = LMER_CTRL)
ek <- emmeans(l2, ~ Type, lmer.df = "kenward-roger")
es <- emmeans(l2, ~ Type, lmer.df = "satterthwaite")
add("EM2LMER", "ergoStool lmer effort ~ Type + (1 | Subject): KR (pbkrtest) and Satterthwaite (lmerTest)",
    "lmer(effort ~ Type + (1 | Subject), data = E)", l2,
    list(kr = tab(summary(ek)), kr_pairs = tab(pairs(ek)),
         satterthwaite = tab(summary(es)), satterthwaite_pairs = tab(pairs(es))))

## EM3: split plot (Oats), containment DFs, trt.vs.ctrl and poly contrasts of nitrogen
c3 <- "lme(yield ~ Variety * nf, data = Oa, random = ~ 1 | Block/Variety, control = CTRL)"
m3 <- best_fit(c3, "lme")
e3n <- emmeans(m3, ~ nf | Variety)
e3v <- emmeans(m3, ~ Variety)
e3 <- emmeans(m3, ~ nf)
add("EM3", "Oats split plot lme yield ~ Variety * nf, random = ~ 1 | Block/Variety", c3, m3, list(
  nf_by_variety = tab(summary(e3n)),
  nf_trt = tab(contrast(e3n, "trt.vs.ctrl")),
  nf_poly = tab(contrast(e3n, "poly")),
  variety = tab(summary(e3v)),
  variety_pairs = tab(pairs(e3v)),
  nf = tab(summary(e3)),
  nf_poly_all = tab(contrast(e3, "poly")),
  cells_pairs_sidak = tab(summary(pairs(emmeans(m3, ~ Variety * nf)), adjust = "sidak")[1:8, ])))
l3 <- lmer(yield ~ Variety * nf + (1 | Block/Variety), data = Oa, control = LMER_CTRL)
k3n <- emmeans(l3, ~ nf | Variety, lmer.df = "kenward-roger")
k3v <- emmeans(l3, ~ Variety, lmer.df = "kenward-roger")
add("EM3LMER", "Oats lmer yield ~ Variety * nf + (1 | Block/Variety), Kenward-Roger",
    "lmer(yield ~ Variety * nf + (1 | Block/Variety), data = Oa)", l3, list(
      nf_by_variety = tab(summary(k3n)), nf_trt = tab(contrast(k3n, "trt.vs.ctrl")),
      variety = tab(summary(k3v)), variety_pairs = tab(pairs(k3v))))

## EM4: a covariate with at= (random slopes), Satterthwaite (emmeans' numerical) and KR
c4 <- "lme(distance ~ age * Sex, data = O, random = ~ age | Subject, control = CTRL)"
m4 <- best_fit(c4, "lme")
e4 <- emmeans(m4, ~ Sex)
e4a <- emmeans(m4, ~ Sex | age, at = list(age = c(8, 14)))
e4s <- emmeans(m4, ~ Sex | age, at = list(age = c(8, 14)), mode = "satterthwaite")
rg <- ref_grid(m4)
Lest <- rbind(`Female slope` = c(0, 1, 0, 1), `Female - Male at 14` = c(0, 0, 1, 14),
              `mean at 11, Male` = c(1, 11, 0, 0))
est <- data.frame(label = rownames(Lest), estimate = as.numeric(Lest %*% fixef(m4)),
                  SE = sqrt(diag(Lest %*% vcov(m4) %*% t(Lest))),
                  df = apply(Lest, 1, function(k) rg@dffun(k, rg@dfargs)))
est$t_ratio <- est$estimate / est$SE
est$p_value <- 2 * pt(abs(est$t_ratio), est$df, lower.tail = FALSE)
est$lower_CL <- est$estimate - qt(0.975, est$df) * est$SE
est$upper_CL <- est$estimate + qt(0.975, est$df) * est$SE
add("EM4", "Orthodont lme distance ~ age * Sex, random = ~ age | Subject; at = list(age = c(8, 14))",
    c4, m4, list(
      sex = tab(summary(e4)), sex_pairs = tab(pairs(e4)),
      sex_at = tab(summary(e4a)), sex_at_pairs = tab(pairs(e4a)),
      sex_at_age_pairs = tab(pairs(emmeans(m4, ~ age | Sex, at = list(age = c(8, 14))))),
      satterthwaite = tab(summary(e4s)), satterthwaite_pairs = tab(pairs(e4s)),
      estimate = est),
    list(fixef_names = names(fixef(m4)), L = unname(split(Lest, row(Lest))),
         satterthwaite_mode = attr(e4s@dffun, "mesg")))
l4 <- lmer(distance ~ age * Sex + (age | Subject), data = O, control = LMER_CTRL)
k4 <- emmeans(l4, ~ Sex | age, at = list(age = c(8, 14)), lmer.df = "kenward-roger")
add("EM4LMER", "Orthodont lmer distance ~ age * Sex + (age | Subject), Kenward-Roger",
    "lmer(distance ~ age * Sex + (age | Subject), data = O)", l4,
    list(sex_at = tab(summary(k4)), sex_at_pairs = tab(pairs(k4))))

## EM5: unbalanced data, every weighting
c5 <- "lme(distance ~ Sex * visit, data = OU, random = ~ 1 | Subject, control = CTRL)"
m5 <- best_fit(c5, "lme")
w5 <- list()
for (w in c("equal", "proportional", "outer", "cells", "flat")) {
  w5[[paste0("sex_", w)]] <- tab(summary(emmeans(m5, ~ Sex, weights = w)))
  w5[[paste0("visit_", w)]] <- tab(summary(emmeans(m5, ~ visit, weights = w)))
}
w5$sex_proportional_pairs <- tab(pairs(emmeans(m5, ~ Sex, weights = "proportional")))
w5$visit_cells_consec <- tab(contrast(emmeans(m5, ~ visit, weights = "cells"), "consec"))
add("EM5", "unbalanced Orthodont (rows DROP removed) lme distance ~ Sex * visit, random = ~ 1 | Subject",
    c5, m5, w5, list(drop = DROP))
c5b <- "lme(distance ~ Sex + visit, data = OU, random = ~ 1 | Subject, control = CTRL)"
m5b <- best_fit(c5b, "lme")
add("EM5B", "unbalanced Orthodont additive lme distance ~ Sex + visit", c5b, m5b, list(
  sex_proportional = tab(summary(emmeans(m5b, ~ Sex, weights = "proportional"))),
  sex_equal = tab(summary(emmeans(m5b, ~ Sex)))))

dir.create(OUTDIR, showWarnings = FALSE, recursive = TRUE)
out <- list(
  description = paste(
    "R emmeans", as.character(packageVersion("emmeans")), "on nlme", as.character(packageVersion("nlme")),
    "and lme4", as.character(packageVersion("lme4")), "(pbkrtest", as.character(packageVersion("pbkrtest")),
    ") fits; written by validation/R/emmeans.R. Tables: as.data.frame of emmeans summaries,",
    "in emmeans' row order. gls tables use df = N - p (nlme's) via emmeans' df option."),
  cases = cases)
write_json(out, file.path(OUTDIR, "emmeans.json"), digits = NA, auto_unbox = TRUE,
           pretty = TRUE, na = "null")
cat("->", file.path(OUTDIR, "emmeans.json"), "\n")
