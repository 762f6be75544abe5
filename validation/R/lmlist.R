## nlme's lmList (issue 14, item 4): per-group OLS fits, their summary, intervals and
## pooled SD, and lme() started from them (nlme's lme.lmList).  Writes
## validation/data/IGF.csv (+ its levels.json entry: Lot is an ordered factor in nlme, in
## nlme's level order) and validation/references_nlme14/lmlist.json.
##
##   Rscript validation/R/lmlist.R      (~5 s; needs r-cran-nlme, r-cran-lme4, r-cran-jsonlite)
##
## export_data.R rewrites levels.json from its own list: run this script after it.
##
## Cases (all on the plain data frames of load_ds(), explicit "| group" in the formula):
##   IGF        lmList(conc ~ age | Lot, IGF); lme(fm1IGF.lis) (see its notes: nlme's default
##              optimizer fails on it; the REML supremum is on the boundary, given by lme4)
##   Orthodont  lmList(distance ~ age | Subject, Orthodont); lme(fm1Orth.lis) and
##              lme(distance ~ age, Orthodont, random = ~ age | Subject)
##   small      Orthodont with M01 cut to 1 row and F11, M02 to 2 rows: NA coefficients,
##              groups without residual df, nlme's pooled df counting aliased coefficients;
##              with the factor `late` (age >= 12) three groups fail (one-level factor)
##   Pixel      lmList(pixel ~ day | Dog/Side, Pixel), level 2 (default) and level = 1
RDIR <- local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  dirname(normalizePath(sub("^--file=", "", a[1])))
})
source(file.path(RDIR, "common.R"))
suppressPackageStartupMessages(library(lme4))
## lme4 masks nlme's lmList: call nlme::lmList explicitly
lmList <- nlme::lmList
OUTDIR <- file.path(VALDIR, "references_nlme14")
dir.create(OUTDIR, showWarnings = FALSE)

## ---------------------------------------------------------------- IGF data
write_dataset("IGF", nlme::IGF)      # common.R: CSV + levels.json entry, round trip checked

## ---------------------------------------------------------------- helpers
## a groups x coefficients matrix as {coef: [values in group order]}
by_coef <- function(m) setNames(lapply(seq_len(ncol(m)), function(j) unname(m[, j])),
                                colnames(m))
## summary(.)$coefficients (groups x columns x coefficients) as
## {coef: {Estimate: [...], "Std. Error": [...], ...}}
coef3 <- function(a) setNames(lapply(dimnames(a)[[3]], function(k)
  setNames(lapply(dimnames(a)[[2]], function(j) unname(a[, j, k])), dimnames(a)[[2]])),
  dimnames(a)[[3]])
## per-row values in the caller's row order (NA for rows of failed groups)
per_row <- function(fm, groups, FUN) {
  out <- rep(NA_real_, length(groups))
  for (g in names(fm)) if (!is.null(fm[[g]])) out[groups == g] <- FUN(fm[[g]])
  out
}
## nlme's intervals(pool = FALSE) fails (qf() on a list of df); the unpooled intervals
## are confint() of each group's lm (est +- qt((1+level)/2, df_g) * SE_g)
unpooled_intervals <- function(fm, level) {
  cf <- as.matrix(coef(fm))
  lo <- up <- cf; lo[] <- NA_real_; up[] <- NA_real_
  for (g in names(fm)) if (!is.null(fm[[g]])) {
    ci <- suppressWarnings(confint(fm[[g]], level = level))
    lo[g, rownames(ci)] <- ci[, 1]; up[g, rownames(ci)] <- ci[, 2]
  }
  setNames(lapply(colnames(cf), function(k)
    list(lower = unname(lo[, k]), `est.` = unname(cf[, k]), upper = unname(up[, k]))),
    colnames(cf))
}
intervals_list <- function(iv) setNames(lapply(dimnames(iv)[[3]], function(k)
  list(lower = unname(iv[, "lower", k]), `est.` = unname(iv[, "est.", k]),
       upper = unname(iv[, "upper", k]))), dimnames(iv)[[3]])

## print()ed as R shows it by default (7 significant digits)
printed <- function(x) { op <- options(digits = 7); on.exit(options(op)); capture.output(print(x)) }

dump_lmlist <- function(fm, data, groups, r_call, notes = character(0)) {
  sp <- pooledSD(fm)
  s <- suppressWarnings(summary(fm))
  su <- suppressWarnings(summary(fm, pool = FALSE))
  cf <- as.matrix(coef(fm))
  ok <- !vapply(fm, is.null, NA)
  list(r_call = r_call, groups = names(fm), coef_names = colnames(cf),
       nobs = nrow(data), nobs_fitted = length(unlist(lapply(fm, fitted))),
       failed = names(fm)[!ok],
       coef = by_coef(cf),
       pooledSD = c(sp), pooledSD_df = attr(sp, "df"),
       sigma = unname(su$sigma), df_residual = unname(vapply(fm, function(el)
         if (is.null(el)) NA_real_ else as.numeric(el$df.residual), 0)),
       summary_pooled = coef3(coef(s)), summary_unpooled = coef3(coef(su)),
       RSE = s$RSE, df_pooled = s$df.residual,
       intervals = intervals_list(suppressWarnings(intervals(fm))),
       intervals_90 = intervals_list(suppressWarnings(intervals(fm, level = 0.9))),
       intervals_unpooled = unpooled_intervals(fm, 0.95),
       fitted = per_row(fm, groups, fitted), resid = per_row(fm, groups, resid),
       print = printed(fm), summary_print = printed(s),
       notes = paste(c(notes, paste(
         "intervals_unpooled: nlme's intervals(pool = FALSE) fails in nlme 3.1-162",
         "(qf() on a list of df); these are confint() of each group's lm"),
         "fitted/resid: per row in the data's order (nlme returns them blocked by group)"),
         collapse = "; "))
}

## lme(lmList) as nlme's lme.lmList: the starting relative covariance
## diag((mad(coef_j) / mad(resid))^2)
lme_start <- function(fm, rnames) {
  cf <- na.omit(coef(fm))
  madRes <- mad(resid(fm), na.rm = TRUE)
  madRan <- unlist(lapply(cf, mad, na.rm = TRUE)[rnames])
  list(names = rnames, D = unname((madRan / madRes)^2), mad_resid = madRes,
       mad_coef = unname(madRan))
}
dump_lme <- function(fit, r_call, notes = character(0)) {
  vc <- as.matrix(fit$modelStruct$reStruct[[1]]) * fit$sigma^2
  list(r_call = r_call, logLik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"),
       method = fit$method, sigma = fit$sigma,
       fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(vcov(fit)))),
       re_names = colnames(vc), re_sd = unname(sqrt(diag(vc))),
       re_cor = if (ncol(vc) > 1) cov2cor(vc)[lower.tri(vc)] else NULL,
       notes = paste(notes, collapse = "; "))
}
dump_lmer <- function(fit, r_call, notes = character(0)) {
  vc <- as.matrix(VarCorr(fit)[[1]])
  list(r_call = r_call, logLik = as.numeric(logLik(fit)), df = attr(logLik(fit), "df"),
       method = if (isREML(fit)) "REML" else "ML", sigma = sigma(fit),
       fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       re_names = colnames(vc), re_sd = unname(sqrt(diag(vc))),
       re_cor = if (ncol(vc) > 1) cov2cor(vc)[lower.tri(vc)] else NULL,
       singular = isSingular(fit), notes = paste(notes, collapse = "; "))
}
tight <- lmeControl(rel.tol = 1e-14, msMaxIter = 500, msMaxEval = 2000, tolerance = 1e-10)
pr <- function(label, ll) cat(sprintf("  %-44s logLik %s\n", label, fmtg(ll)))

out <- list(R = R.version.string, nlme_version = as.character(packageVersion("nlme")),
            lme4_version = as.character(packageVersion("lme4")))

## ---------------------------------------------------------------- IGF
IGF <- load_ds("IGF")
fm1IGF.lis <- lmList(conc ~ age | Lot, IGF)
igf <- dump_lmlist(fm1IGF.lis, IGF, IGF$Lot, "lmList(conc ~ age | Lot, IGF)")
newIGF <- data.frame(Lot = factor(c("9", "3", "9"), levels = levels(IGF$Lot)),
                     age = c(10, 20, 30.5))
## nlme returns predictions blocked by group (names = groups): put them back in row order
pIGF <- predict(fm1IGF.lis, newIGF)
rowwise <- numeric(nrow(newIGF))
for (g in unique(names(pIGF))) rowwise[as.character(newIGF$Lot) == g] <- pIGF[names(pIGF) == g]
igf$predict_newdata <- list(Lot = as.character(newIGF$Lot), age = newIGF$age, fit = rowwise,
                            nlme_order = names(pIGF), nlme_fit = unname(pIGF),
                            notes = "fit: in newdata's row order; nlme_fit: nlme's blocked order")
igf$lme_start <- lme_start(fm1IGF.lis, c("(Intercept)", "age"))
## nlme's lme(fm1IGF.lis) (P&B p. 106, fm1IGF.lme): nlme 3.1-162's default nlminb stops
## with "iteration limit reached" (tight settings: "singular convergence"), because the
## REML supremum is on the boundary (random intercept and slope correlated -1).
err <- tryCatch({lme(fm1IGF.lis); "no error"}, error = function(e) conditionMessage(e))
igf$lme_default_error <- gsub("\\s+", " ", err)
f_opt <- lme(fm1IGF.lis, control = lmeControl(opt = "optim"))
igf$lme_optim <- dump_lme(f_opt, "lme(fm1IGF.lis, control = lmeControl(opt = 'optim'))",
  "BFGS stops inside the parameter space, below the boundary supremum (see lme4_boundary)")
m_igf <- lmer(conc ~ age + (age | Lot), IGF)
igf$lme4_boundary <- dump_lmer(m_igf, "lmer(conc ~ age + (age | Lot), IGF)",
  "singular fit: corr -1; the REML supremum of nlme's criterion (same REML likelihood)")
m_nm <- lmer(conc ~ age + (age | Lot), IGF,
             control = lmerControl(optimizer = "Nelder_Mead",
                                   optCtrl = list(FtolAbs = 1e-14, FtolRel = 1e-14, maxfun = 1e5)))
igf$lme4_boundary_nm <- dump_lmer(m_nm,
  "lmer(conc ~ age + (age | Lot), IGF, control = lmerControl(optimizer = 'Nelder_Mead', optCtrl = list(FtolAbs = 1e-14, FtolRel = 1e-14, maxfun = 1e5)))",
  "the same boundary fit with a tightly converged Nelder-Mead (higher logLik than bobyqa's)")
f_int <- lme(fm1IGF.lis, random = ~ 1)
igf$lme_random_int <- dump_lme(f_int, "lme(fm1IGF.lis, random = ~ 1)")
stopifnot(abs(logLik(f_int) - logLik(lme(conc ~ age, IGF, random = ~ 1 | Lot))) < 1e-8)
f_int_t <- tryCatch(lme(fm1IGF.lis, random = ~ 1, control = tight), error = function(e) NULL)
if (is.null(f_int_t))
  f_int_t <- lme(fm1IGF.lis, random = ~ 1, control = lmeControl(opt = "optim"))
igf$lme_random_int$tight_diff <- as.numeric(logLik(f_int_t) - logLik(f_int))
out$IGF <- igf
cat("IGF lmList: pooledSD", fmtg(igf$pooledSD), "df", igf$pooledSD_df, "\n")
cat("  lme(fm1IGF.lis) default:", igf$lme_default_error, "\n")
pr("lme(fm1IGF.lis, opt = 'optim')", igf$lme_optim$logLik)
pr("lmer(conc ~ age + (age | Lot)) [boundary]", igf$lme4_boundary$logLik)
pr("  the same, Nelder-Mead, tight", igf$lme4_boundary_nm$logLik)
pr("lme(fm1IGF.lis, random = ~ 1)", igf$lme_random_int$logLik)

## ---------------------------------------------------------------- Orthodont
Orthodont <- load_ds("Orthodont")
fm1Orth.lis <- lmList(distance ~ age | Subject, Orthodont)
orth <- dump_lmlist(fm1Orth.lis, Orthodont, Orthodont$Subject,
                    "lmList(distance ~ age | Subject, Orthodont)")
orth$lme_start <- lme_start(fm1Orth.lis, c("(Intercept)", "age"))
fo <- lme(fm1Orth.lis)
orth$lme <- dump_lme(fo, "lme(fm1Orth.lis)")
fo_t <- tryCatch(lme(fm1Orth.lis, control = tight), error = function(e) NULL)
if (is.null(fo_t)) fo_t <- lme(fm1Orth.lis, control = lmeControl(opt = "optim"))
orth$lme$tight_diff <- as.numeric(logLik(fo_t) - logLik(fo))
fo2 <- lme(distance ~ age, Orthodont, random = ~ age | Subject)
orth$lme_formula <- dump_lme(fo2, "lme(distance ~ age, Orthodont, random = ~ age | Subject)")
fo_ml <- lme(fm1Orth.lis, method = "ML")
orth$lme_ml <- dump_lme(fo_ml, "lme(fm1Orth.lis, method = 'ML')")
fo_d <- lme(fm1Orth.lis, random = pdDiag(~ age))
orth$lme_pddiag <- dump_lme(fo_d, "lme(fm1Orth.lis, random = pdDiag(~ age))")
out$Orthodont <- orth
cat("Orthodont lmList: pooledSD", fmtg(orth$pooledSD), "df", orth$pooledSD_df, "\n")
pr("lme(fm1Orth.lis)", orth$lme$logLik)
pr("lme(distance ~ age, random = ~ age | Subject)", orth$lme_formula$logLik)
pr("lme(fm1Orth.lis, method = 'ML')", orth$lme_ml$logLik)
pr("lme(fm1Orth.lis, random = pdDiag(~ age))", orth$lme_pddiag$logLik)

## ---------------------------------------------------------------- groups with few rows
small <- Orthodont[!(Orthodont$Subject == "M01" & Orthodont$age != 8) &
                   !(Orthodont$Subject %in% c("F11", "M02") & Orthodont$age > 10), ]
small$late <- factor(ifelse(small$age >= 12, "yes", "no"), levels = c("no", "yes"))
rownames(small) <- NULL
s1 <- lmList(distance ~ age | Subject, small)
sm <- dump_lmlist(s1, small, small$Subject, "lmList(distance ~ age | Subject, small)",
  c("small = Orthodont without M01's rows at ages 10-14 and F11's, M02's at 12-14",
    paste("M01 (1 row): age aliased (NA); F11, M02 (2 rows): no residual df, so NaN",
          "standard errors even when pooled; nlme's pooled df counts the aliased age",
          "coefficient of M01 (n - length(coef) = -1), 47 instead of the 48 residual df")))
sm$rows <- list(Subject = as.character(small$Subject), age = small$age,
                distance = small$distance, late = as.character(small$late))
w <- character(0)
s2 <- withCallingHandlers(lmList(distance ~ age + late | Subject, small),
  warning = function(wn) { w <<- c(w, conditionMessage(wn)); invokeRestart("muffleWarning") })
sm2 <- dump_lmlist(s2, small, small$Subject, "lmList(distance ~ age + late | Subject, small)",
  "the factor late has one level in M01, F11 and M02: lm() fails there, nlme keeps NA rows")
sm2$warning <- w
out$small <- sm
out$small_factor <- sm2
cat("small: pooledSD", fmtg(sm$pooledSD), "df", sm$pooledSD_df, "; with late:",
    fmtg(sm2$pooledSD), "df", sm2$pooledSD_df, "failed:", sm2$failed, "\n")

## ---------------------------------------------------------------- Pixel (nested groups)
Pixel <- load_ds("Pixel")
p2 <- lmList(pixel ~ day | Dog/Side, Pixel)
p1 <- lmList(pixel ~ day | Dog/Side, Pixel, level = 1)
out$Pixel <- list(r_call = "lmList(pixel ~ day | Dog/Side, Pixel)",
                  groups = names(p2), coef = by_coef(as.matrix(coef(p2))),
                  pooledSD = c(pooledSD(p2)), pooledSD_df = attr(pooledSD(p2), "df"),
                  level1 = list(r_call = "lmList(pixel ~ day | Dog/Side, Pixel, level = 1)",
                                groups = names(p1), coef = by_coef(as.matrix(coef(p1))),
                                pooledSD = c(pooledSD(p1)),
                                pooledSD_df = attr(pooledSD(p1), "df")),
                  notes = paste("level 2 groups 'Dog/Side' are ordered by first appearance",
                                "(Dog is not an ordered factor in the CSV)"))

outfile <- file.path(OUTDIR, "lmlist.json")
write_json(out, outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("->", outfile, "\n")
