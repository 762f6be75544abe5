## nlme's result-access conveniences (issue 14) -> validation/references_nlme14/results_api.json
##   Rscript validation/R/results_api.R
## R 4.2.2, nlme 3.1-162.
##
## * anova(fit, Terms = ...) (by position in the anova table, intercept included, or by
##   name) and anova(fit, L = ...) (a named vector, a short unnamed vector zero-padded on
##   the right, a matrix with fewer columns) on lme (REML and ML) and gls fits, with nlme's
##   heading (attr "label") and the L it prints (attr "L"), and nlme's error messages;
## * anova(fm1, fm2, test = FALSE) and the comparison tables with test = TRUE (Orthodont,
##   ML), including two models with the same df (nlme then adds no Test columns);
## * coef(fit, level = k) (groups x coefficients), fitted(fit, level = 0:Q),
##   resid(fit, level = ..., type = ...), predict(fit, newdata, level = 0:Q) with a new
##   group, on Orthodont (one level) and Pixel (nested Dog/Side);
## * normalized residuals at levels 0:1 of an lme with corAR1 (on data in nlme's sorted
##   order, so that nlme's values are not scrambled: trap 13 of nlme-reference.md);
## * intervals(fit, which = "var-cov") and intervals(fit, which = "fixed").
##
## Every fit is also refitted with tight optimizer settings (nlminb rel.tol 1e-14); the
## largest relative change of the fixed effects and the logLik change are in `notes`.
## Coefficient names are R's; `name_map` maps them to patsy's (Python) names.
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
OUTDIR <- file.path(VALDIR, "references_nlme14")

TIGHT <- quote(lmeControl(rel.tol = 1e-14, msMaxIter = 500, msMaxEval = 2000,
                          tolerance = 1e-10, returnObject = TRUE))

## fit an lme call string on `data` bound to `dataset`; record the tight-refit check
fit_lme <- function(r_call, dataset, data) {
  fit <- eval_call(r_call, dataset, data)
  env <- new.env(parent = globalenv()); assign(dataset, data, envir = env)
  cl <- parse(text = r_call)[[1]]
  if (inherits(fit, "lme")) { cl$control <- TIGHT; tight <- suppressWarnings(eval(cl, env)) } else tight <- fit
  d_fe <- max(abs(fixef(tight) - fixef(fit)) / pmax(abs(fixef(fit)), 1e-8))
  d_ll <- as.numeric(logLik(tight)) - as.numeric(logLik(fit))
  attr(fit, "check") <- sprintf("tight refit: logLik %+.1e, fixef max rel change %.1e", d_ll, d_fe)
  cat(sprintf("%-60s logLik %.10f  (%s)\n", substr(r_call, 1, 60), as.numeric(logLik(fit)),
              attr(fit, "check")))
  fit
}

## a data frame as {index: row names, columns: {name: values}}
df_json <- function(df) {
  df <- as.data.frame(df)
  cols <- lapply(df, function(v) if (is.factor(v)) as.character(v) else v)
  list(index = rownames(df), columns = cols)
}

## one single-model F test (Terms or L) with its heading and printed L
ftest_json <- function(a, what) {
  out <- list(numDF = a[1, "numDF"], `F-value` = a[1, "F-value"], `p-value` = a[1, "p-value"],
              label = sub("\\s+$", "", attr(a, "label")))
  if ("denDF" %in% names(a)) out$denDF <- a[1, "denDF"]
  L <- attr(a, "L")
  if (!is.null(L)) {
    out$L_printed <- if (is.matrix(L)) list(rows = rownames(L), columns = colnames(L),
                                            values = unname(split(L, row(L))))
                     else list(names = names(L), values = unname(L))
  }
  c(what, out)
}

error_of <- function(expr) tryCatch({ expr; NA_character_ }, error = function(e) conditionMessage(e))

anova_table <- function(a) {
  a <- as.data.frame(a)
  lapply(seq_len(nrow(a)), function(i) c(list(term = rownames(a)[i]), as.list(a[i, , drop = FALSE])))
}

out <- list(generated_by = "validation/R/results_api.R", nlme = as.character(packageVersion("nlme")))

## --- BodyWeight: anova(Terms =), anova(L =) --------------------------------------------------
bw <- load_ds("BodyWeight")
bw_call <- "lme(weight ~ Time * Diet, data = BodyWeight, random = ~ Time | Rat)"
fm <- fit_lme(bw_call, "BodyWeight", bw)
bw_map <- list(`(Intercept)` = "Intercept", Time = "Time", Diet2 = "Diet[T.2]", Diet3 = "Diet[T.3]",
               `Time:Diet2` = "Time:Diet[T.2]", `Time:Diet3` = "Time:Diet[T.3]")
terms_tests <- list(
  ftest_json(anova(fm, Terms = 4), list(Terms = 4)),
  ftest_json(anova(fm, Terms = "Time:Diet"), list(Terms = "Time:Diet")),
  ftest_json(anova(fm, Terms = c(2, 4)), list(Terms = c(2, 4))),
  ftest_json(anova(fm, Terms = c("Time", "Time:Diet")), list(Terms = c("Time", "Time:Diet"))),
  ftest_json(anova(fm, Terms = 3), list(Terms = 3)),
  ftest_json(anova(fm, Terms = 1), list(Terms = 1)),
  ftest_json(anova(fm, Terms = 2, type = "marginal"), list(Terms = 2, type = "marginal")))
L_tests <- list(
  ftest_json(anova(fm, L = c("Time:Diet2" = 1, "Time:Diet3" = -1)),
             list(L = list(`Time:Diet2` = 1, `Time:Diet3` = -1))),
  ftest_json(anova(fm, L = rbind(c("Diet2" = 1, "Diet3" = 0), c(0, 1))),
             list(L = list(columns = c("Diet2", "Diet3"), rows = list(c(1, 0), c(0, 1))))))
errors <- list(
  list(Terms = c(3, 4), message = error_of(anova(fm, Terms = c(3, 4)))),
  list(Terms = 5, message = error_of(anova(fm, Terms = 5))),
  list(Terms = 0, message = error_of(anova(fm, Terms = 0))),
  list(Terms = "Diet:Time", message = error_of(anova(fm, Terms = "Diet:Time"))),
  list(L = list(Diet4 = 1), message = error_of(anova(fm, L = c(Diet4 = 1)))),
  list(L = list(Time = 1, Diet2 = 1), message = error_of(anova(fm, L = c(Time = 1, Diet2 = 1)))),
  list(L = c(0, 0, 0, 0, 0, 0, 1), message = error_of(anova(fm, L = c(0, 0, 0, 0, 0, 0, 1)))))
out$bodyweight <- list(
  r_call = bw_call, dataset = "BodyWeight",
  lmmext_call = "lme('weight ~ Time * Diet', data=BodyWeight, random='~ Time | Rat')",
  method = fm$method, logLik = as.numeric(logLik(fm)), name_map = bw_map,
  fixef = as.list(fixef(fm)),
  anova_sequential = anova_table(anova(fm)), anova_marginal = anova_table(anova(fm, type = "marginal")),
  terms_tests = terms_tests, L_tests = L_tests, errors = errors,
  notes = paste(attr(fm, "check"), "; nlme ignores type= with Terms/L: the joint test is the",
                "Wald test of the terms' coefficients (= the marginal row for one term)"))

fmML <- fit_lme(sub(")$", ", method = \"ML\")", bw_call), "BodyWeight", bw)
out$bodyweight_ml <- list(
  r_call = sub(")$", ", method = \"ML\")", bw_call), dataset = "BodyWeight",
  lmmext_call = "lme('weight ~ Time * Diet', data=BodyWeight, random='~ Time | Rat', method='ML')",
  method = fmML$method, logLik = as.numeric(logLik(fmML)), name_map = bw_map,
  terms_tests = list(ftest_json(anova(fmML, Terms = "Time:Diet"), list(Terms = "Time:Diet")),
                     ftest_json(anova(fmML, Terms = c(2, 4)), list(Terms = c(2, 4)))),
  L_tests = list(ftest_json(anova(fmML, L = c("Time:Diet2" = 1, "Time:Diet3" = -1)),
                            list(L = list(`Time:Diet2` = 1, `Time:Diet3` = -1)))),
  notes = paste(attr(fmML, "check"), "; ML: nlme scales vcov by N/(N-p) (adjustSigma)"))

## --- gls: anova(Terms =), anova(L =) ----------------------------------------------------------
od <- load_ds("Orthodont")
gls_call <- "gls(distance ~ age * Sex, data = Orthodont, correlation = corCompSymm(form = ~ 1 | Subject))"
fg <- eval_call(gls_call, "Orthodont", od)
out$gls <- list(
  r_call = gls_call, dataset = "Orthodont",
  lmmext_call = "gls('distance ~ age * Sex', data=Orthodont, correlation=CorCompSymm(form='~ 1 | Subject'))",
  method = fg$method, logLik = as.numeric(logLik(fg)),
  name_map = list(`(Intercept)` = "Intercept", age = "age", SexFemale = "Sex[T.Female]",
                  `age:SexFemale` = "age:Sex[T.Female]"),
  terms_tests = list(ftest_json(anova(fg, Terms = c(3, 4)), list(Terms = c(3, 4))),
                     ftest_json(anova(fg, Terms = c("Sex", "age:Sex")), list(Terms = c("Sex", "age:Sex")))),
  L_tests = list(ftest_json(anova(fg, L = c("age:SexFemale" = 1, "SexFemale" = 2)),
                            list(L = list(`age:SexFemale` = 1, SexFemale = 2)))),
  coef = as.list(coef(fg)),
  notes = "gls: denominator DF N - p = 104 (nlme prints it in the heading, 'Denom. DF: 104')")

## --- Orthodont: coef(level), fitted/resid/predict at levels 0:1 ------------------------------
o_call <- "lme(distance ~ age + Sex, data = Orthodont, random = ~ age | Subject)"
fo <- fit_lme(o_call, "Orthodont", od)
newo <- data.frame(distance = c(25, 24, 23), age = c(9, 13, 10),
                   Subject = factor(c("M01", "F02", "N01"), levels = c(levels(od$Subject), "N01")),
                   Sex = factor(c("Male", "Female", "Female"), levels = levels(od$Sex)))
po <- predict(fo, newo, level = 0:1)
out$orthodont <- list(
  r_call = o_call, dataset = "Orthodont",
  lmmext_call = "lme('distance ~ age + Sex', data=Orthodont, random='~ age | Subject')",
  method = fo$method, logLik = as.numeric(logLik(fo)),
  name_map = list(`(Intercept)` = "Intercept", age = "age", SexFemale = "Sex[T.Female]"),
  coef_1 = df_json(coef(fo, level = 1)), coef_default = df_json(coef(fo)),
  fitted_01 = df_json(fitted(fo, level = 0:1)),
  resid_01 = df_json(resid(fo, level = 0:1)),
  resid_pearson_01 = df_json(resid(fo, level = 0:1, type = "pearson")),
  newdata = df_json(newo[c("age", "Subject", "Sex")]),
  predict_01 = df_json(po), predict_1 = as.numeric(predict(fo, newo, level = 1)),
  predict_nonew_01 = df_json(predict(fo, level = 0:1)),
  coef_level_error = error_of(coef(fo, level = 0:1)),
  notes = paste(attr(fo, "check"), "; newdata row 3 is a Subject not in the fit (N01): NA at level 1"))

## ML fits for the model comparisons
c1 <- "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, method = \"ML\")"
c2 <- "lme(distance ~ age + Sex, data = Orthodont, random = ~ age | Subject, method = \"ML\")"
c3 <- "gls(distance ~ age + Sex, data = Orthodont, correlation = corCompSymm(form = ~ 1 | Subject), method = \"ML\")"
m1 <- fit_lme(c1, "Orthodont", od); m2 <- fit_lme(c2, "Orthodont", od); m3 <- eval_call(c3, "Orthodont", od)
cmp <- function(a) { a <- as.data.frame(a); a$call <- NULL; df_json(a) }
out$comparison <- list(
  r_calls = c(fm1 = c1, fm2 = c2, fm3 = c3), dataset = "Orthodont",
  lmmext_calls = c(fm1 = "lme('distance ~ age + Sex', data=Orthodont, random='~ 1 | Subject', method='ML')",
                   fm2 = "lme('distance ~ age + Sex', data=Orthodont, random='~ age | Subject', method='ML')",
                   fm3 = "gls('distance ~ age + Sex', data=Orthodont, correlation=CorCompSymm(form='~ 1 | Subject'), method='ML')"),
  test_false = cmp(anova(m1, m2, test = FALSE)), test_true = cmp(anova(m1, m2)),
  same_df = cmp(anova(m1, m3)), same_df_test_false = cmp(anova(m1, m3, test = FALSE)),
  notes = paste("fm1 and fm3 have the same df (5): nlme adds no Test/L.Ratio/p-value columns;",
                attr(m1, "check"), ";", attr(m2, "check")))

## normalized residuals at levels 0:1 with corAR1 (data in nlme's sorted order)
od_sorted <- od[order(od$Subject), ]
ar_call <- "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, correlation = corAR1())"
fa <- fit_lme(ar_call, "Orthodont", od_sorted)
fa_orig <- eval_call(ar_call, "Orthodont", od)
rn_sorted <- resid(fa, level = 0:1, type = "normalized")
rn_orig <- resid(fa_orig, level = 0:1, type = "normalized")
d_scr <- max(abs(as.matrix(rn_orig[rownames(rn_sorted), ]) - as.matrix(rn_sorted)))
out$orthodont_ar1 <- list(
  r_call = ar_call, dataset = "Orthodont", sorted = TRUE,
  lmmext_call = "lme('distance ~ age + Sex', data=Orthodont, random='~ 1 | Subject', correlation=CorAR1())",
  method = fa$method, logLik = as.numeric(logLik(fa)),
  resid_normalized_01 = df_json(rn_sorted),
  resid_pearson_01 = df_json(resid(fa, level = 0:1, type = "pearson")),
  notes = paste(attr(fa, "check"), sprintf(paste(
    "; fitted to Orthodont sorted by Subject levels (row names are the original rows);",
    "on the original order nlme's normalized residuals differ by %.2g"), d_scr)))

## --- Pixel (nested): coef(level = 1, 2), fitted(0:2), resid(1:2), predict(0:2), L -------------
px <- load_ds("Pixel")
p_call <- "lme(pixel ~ day + I(day^2), data = Pixel, random = list(Dog = ~ day, Side = ~ 1))"
fp <- fit_lme(p_call, "Pixel", px)
newp <- data.frame(Dog = factor(c("1", "10", "99"), levels = c(levels(px$Dog), "99")),
                   Side = factor(c("L", "R", "L"), levels = levels(px$Side)), day = c(2, 4, 6))
out$pixel <- list(
  r_call = p_call, dataset = "Pixel",
  lmmext_call = "lme('pixel ~ day + I(day**2)', data=Pixel, random={'Dog': '~ day', 'Side': '~ 1'})",
  method = fp$method, logLik = as.numeric(logLik(fp)),
  name_map = list(`(Intercept)` = "Intercept", day = "day", `I(day^2)` = "I(day ** 2)"),
  coef_1 = df_json(coef(fp, level = 1)), coef_2 = df_json(coef(fp, level = 2)),
  fitted_012 = df_json(fitted(fp, level = 0:2)),
  resid_12 = df_json(resid(fp, level = 1:2)),
  resid_pearson_02 = df_json(resid(fp, level = c(0, 2), type = "pearson")),
  newdata = df_json(newp), predict_012 = df_json(predict(fp, newp, level = 0:2)),
  predict_nonew_02 = df_json(predict(fp, level = c(0, 2))),
  L_tests = list(ftest_json(anova(fp, L = c(0, 1)), list(L = c(0, 1))),
                 ftest_json(anova(fp, L = rbind(c(0, 1), c(1, 1))), list(L = list(c(0, 1), c(1, 1)))),
                 ftest_json(anova(fp, L = c(0, -1, 1)), list(L = c(0, -1, 1)))),
  notes = paste(attr(fp, "check"), "; R's coefficient order equals patsy's here, so unnamed L",
                "columns are the same coefficients; newdata row 3 is a Dog not in the fit (99)"))

## --- intervals(which =) ----------------------------------------------------------------------
fi <- fit_lme("lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject)", "Orthodont", od)
ivv <- intervals(fi, which = "var-cov"); ivf <- intervals(fi, which = "fixed")
out$intervals <- list(
  r_call = "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject)", dataset = "Orthodont",
  lmmext_call = "lme('distance ~ age + Sex', data=Orthodont, random='~ 1 | Subject')",
  var_cov_components = names(ivv), fixed_components = names(ivf),
  var_cov_reStruct = df_json(ivv$reStruct$Subject), var_cov_sigma = as.list(ivv$sigma),
  fixed = df_json(ivf$fixed),
  var_cov_printed = capture.output(print(ivv)),
  notes = "var-cov endpoints come from nlme's finite-difference apVar (accurate to ~1e-4..1e-3)")

dir.create(OUTDIR, showWarnings = FALSE, recursive = TRUE)
outfile <- file.path(OUTDIR, "results_api.json")
write_json(out, outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
cat("->", outfile, "\n")
