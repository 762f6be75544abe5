## nlme's getVarCov() of lme and gls fits (issue 14, item 3)
##   Rscript validation/R/getvarcov.R   -> validation/references_nlme14/getvarcov.json
##
## For each fit: nlme's getVarCov() for the requested types and individuals, every matrix
## with its dimnames, and the printed form (print.VarCov).  nlme's conventions, read from
## getVarCov.lme / getVarCov.gls of nlme 3.1-162:
## * lme: random.effects is D of the (only) grouping level; conditional is
##   sigma^2 W_i^-1 C_i W_i^-1 and marginal adds Z_i D Z_i', rows in the data's order
##   within the group (fit$groups is in the data's order; the corStruct/varStruct values,
##   stored in nlme's sorted order, are taken for the group by name, the stable sort
##   keeps the data's order within a group).  `individuals` are group labels or positions
##   in unique(fit$groups), i.e. in order of first appearance in the data; the default is
##   the first group of the data.  More than one grouping level: error.
## * gls: the marginal covariance of one correlation group, `individual` a label or a
##   position in corMatrix() (the groups in level order); default 1.
## Each matrix is also recomputed by hand here (sigma, D, varWeights, corMatrix, Z) and
## the largest difference is printed and stored (`check`), so the semantics above are
## confirmed.  One case where nlme's getVarCov fails (correlation groups nested inside
## the random groups) is given by that hand computation only (`source: "derived"`).
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))
OUTDIR <- file.path(VALDIR, "references_nlme14")

OV_F_R <- "follicles ~ sin(2*pi*Time) + cos(2*pi*Time)"
OV_F_PY <- "follicles ~ np.sin(2*np.pi*Time) + np.cos(2*np.pi*Time)"

## requests: list(type, individuals (NULL = default; character labels or numeric positions))
req <- function(type, ind = NULL) list(type = type, ind = ind)

fits <- list(
  list(id = "GV01", dataset = "Orthodont",
       title = "Orthodont lme random = ~ age | Subject",
       r = "lme(distance ~ age, data = Orthodont, random = ~ age | Subject)",
       py = "lme('distance ~ age', data=Orthodont, random='~ age | Subject')",
       req = list(req("random.effects"), req("conditional"), req("marginal"),
                  req("marginal", c("M01", "F03")), req("conditional", c(2, 20)))),
  list(id = "GV02", dataset = "Orthodont",
       title = "Orthodont lme ~ 1 | Subject + varIdent(~ 1 | Sex) + corAR1()",
       r = "lme(distance ~ age + Sex, data = Orthodont, random = ~ 1 | Subject, weights = varIdent(form = ~ 1 | Sex), correlation = corAR1())",
       py = "lme('distance ~ age + Sex', data=Orthodont, random='~ 1 | Subject', weights=VarIdent(form='~ 1 | Sex'), correlation=CorAR1())",
       req = list(req("random.effects"), req("conditional", c("M01", "F03")),
                  req("marginal", c("M01", "F03")))),
  list(id = "GV03", dataset = "Ovary",
       title = "Ovary lme pdDiag(~ sin(2*pi*Time)) (P&B fm1Ovar.lme)",
       r = sprintf("lme(%s, data = Ovary, random = list(Mare = pdDiag(~ sin(2*pi*Time))))", OV_F_R),
       py = sprintf("lme('%s', data=Ovary, random={'Mare': 'pdDiag(~ np.sin(2*np.pi*Time))'})", OV_F_PY),
       req = list(req("random.effects"), req("conditional"), req("marginal"),
                  req("marginal", c("4", "10")))),
  list(id = "GV04", dataset = "Ovary",
       title = "Ovary lme pdDiag + corAR1() (P&B fm2Ovar.lme = update(fm1Ovar.lme, correlation = corAR1()))",
       r = sprintf("lme(%s, data = Ovary, random = list(Mare = pdDiag(~ sin(2*pi*Time))), correlation = corAR1())", OV_F_R),
       py = sprintf("lme('%s', data=Ovary, random={'Mare': 'pdDiag(~ np.sin(2*np.pi*Time))'}, correlation=CorAR1())", OV_F_PY),
       req = list(req("random.effects"), req("conditional", c("1", "4")),
                  req("marginal", c("1", "4")), req("marginal", 3))),
  list(id = "GV05", dataset = "Orthodont",
       title = "Orthodont rows reversed, lme ~ age | Subject + varPower(~ age): matrices in the data's row order",
       r = "lme(distance ~ age, data = Orthodont[108:1, ], random = ~ age | Subject, weights = varPower(form = ~ age))",
       py = "lme('distance ~ age', data=Orthodont.iloc[::-1], random='~ age | Subject', weights=VarPower(form='~ age'))",
       req = list(req("random.effects"), req("conditional"), req("marginal", c("M01", "F03")),
                  req("marginal", 1:2))),
  list(id = "GV06", dataset = "Ovary", kind = "gls",
       title = "Ovary gls corAR1(~ 1 | Mare)",
       r = sprintf("gls(%s, data = Ovary, correlation = corAR1(form = ~ 1 | Mare))", OV_F_R),
       py = sprintf("gls('%s', data=Ovary, correlation=CorAR1(form='~ 1 | Mare'))", OV_F_PY),
       req = list(req("marginal"), req("marginal", "1"), req("marginal", 3))),
  list(id = "GV07", dataset = "Orthodont", kind = "gls",
       title = "Orthodont gls corSymm(~ 1 | Subject) + varIdent(~ 1 | age) (P&B fm1Orth.gls)",
       r = "gls(distance ~ Sex * I(age - 11), data = Orthodont, correlation = corSymm(form = ~ 1 | Subject), weights = varIdent(form = ~ 1 | age))",
       py = "gls('distance ~ Sex * I(age - 11)', data=Orthodont, correlation=CorSymm(form='~ 1 | Subject'), weights=VarIdent(form='~ 1 | age'))",
       req = list(req("marginal"), req("marginal", "F03"))),
  list(id = "GV08", dataset = "Orthodont", derived = TRUE,
       title = "Orthodont lme ~ 1 | Sex, corAR1(~ 1 | Sex/Subject): correlation groups inside the random groups",
       r = "lme(distance ~ age, data = Orthodont, random = ~ 1 | Sex, correlation = corAR1(form = ~ 1 | Sex/Subject))",
       py = "lme('distance ~ age', data=Orthodont, random='~ 1 | Sex', correlation=CorAR1(form='~ 1 | Sex/Subject'))",
       req = list(req("random.effects"), req("conditional", "Female"), req("marginal", "Female")))
)

mat_json <- function(m) {
  m <- unclass(as.matrix(m)); attr(m, "group.levels") <- NULL
  list(rownames = if (is.null(rownames(m))) NULL else I(rownames(m)),
       colnames = if (is.null(colnames(m))) NULL else I(colnames(m)),
       value = lapply(seq_len(nrow(m)), function(i) I(unname(m[i, ]))))
}

## by hand: the covariance blocks of individual `ind` (label) from the fit's parts
hand_lme <- function(fit, data, type, ind) {
  sig <- fit$sigma
  D <- as.matrix(fit$modelStruct$reStruct[[1]]) * sig^2
  if (type == "random.effects") return(D)
  grp <- fit$groups[[1]]                        # data order (after na.omit)
  ord <- order(grp)                             # nlme's sorted order (stable)
  rows_sorted <- which(grp[ord] == ind)         # the group's rows in sorted order
  n <- length(rows_sorted)
  w <- if (is.null(fit$modelStruct$varStruct)) rep(1, nrow(data))
       else varWeights(fit$modelStruct$varStruct)          # sorted order
  cs <- fit$modelStruct$corStruct
  C <- diag(n)
  if (!is.null(cs)) {                           # the correlation blocks inside the group
    cm <- corMatrix(cs); cg <- getGroups(cs)    # sorted order
    if (!is.list(cm)) cm <- list(cm)
    pos <- 0
    for (b in unique(as.character(cg[rows_sorted]))) {
      k <- nrow(cm[[b]]); C[pos + 1:k, pos + 1:k] <- cm[[b]]; pos <- pos + k
    }
  }
  sds <- sig / w[rows_sorted]
  cond <- C * outer(sds, sds)
  if (type == "conditional") return(cond)
  Z <- model.matrix(fit$modelStruct$reStruct, data)[grp == ind, , drop = FALSE]  # data order
  cond + Z %*% D %*% t(Z)
}

hand_gls <- function(fit, ind) {
  cs <- fit$modelStruct$corStruct
  cm <- corMatrix(cs); cg <- getGroups(cs)
  lab <- if (is.numeric(ind)) names(cm)[ind] else ind
  w <- if (is.null(fit$modelStruct$varStruct)) rep(1, length(cg))
       else varWeights(fit$modelStruct$varStruct)
  sds <- fit$sigma / w[cg == lab]
  cm[[lab]] * outer(sds, sds)
}

cases <- list()
for (f in fits) {
  data0 <- load_ds(f$dataset)
  env <- new.env(parent = globalenv()); assign(f$dataset, data0, envir = env)
  fit <- eval(parse(text = f$r)[[1]], envir = env)
  fdata <- getData(fit)
  isLme <- inherits(fit, "lme")
  results <- list()
  for (rq in f$req) {
    call_txt <- if (isLme) {
      paste0("getVarCov(fit", if (!is.null(rq$ind)) paste0(", individuals = ", deparse(rq$ind)) else "",
             ", type = \"", rq$type, "\")")
    } else {
      paste0("getVarCov(fit", if (!is.null(rq$ind)) paste0(", individual = ", deparse(rq$ind)) else "", ")")
    }
    v <- tryCatch(eval(parse(text = call_txt)[[1]]), error = function(e) e)
    if (inherits(v, "error")) {
      if (!isTRUE(f$derived)) stop(f$id, ": ", conditionMessage(v))
      ## nlme fails: the reference is the hand computation, with nlme's layout
      msg <- conditionMessage(v)
      if (rq$type == "random.effects") {
        v <- hand_lme(fit, fdata, rq$type, NULL)
      } else {
        v <- lapply(setNames(rq$ind, rq$ind), function(i) {
          m <- hand_lme(fit, fdata, rq$type, i); dimnames(m) <- list(1:nrow(m), 1:ncol(m)); m })
      }
      class(v) <- c(rq$type, "VarCov"); attr(v, "group.levels") <- names(fit$groups)
      source <- "derived"
    } else { msg <- NULL; source <- "nlme" }
    ## hand check
    if (isLme) {
      if (rq$type == "random.effects") {
        chk <- max(abs(unclass(v) - hand_lme(fit, fdata, "random.effects", NULL)))
      } else {
        chk <- max(sapply(names(v), function(i) max(abs(unclass(v[[i]]) - hand_lme(fit, fdata, rq$type, i)))))
      }
    } else {
      chk <- max(abs(unclass(v) - hand_gls(fit, if (is.null(rq$ind)) 1 else rq$ind)))
    }
    printed <- paste(capture.output(print(v)), collapse = "\n")
    mats <- if (is.list(unclass(v))) lapply(names(v), function(nm) c(list(name = nm), mat_json(v[[nm]])))
            else list(c(list(name = NULL), mat_json(v)))
    r <- list(call = call_txt, type = class(v)[1], individuals = if (is.null(rq$ind)) NULL else I(rq$ind),
              individuals_numeric = is.numeric(rq$ind), source = source,
              group_levels = if (is.null(attr(v, "group.levels"))) NULL else I(attr(v, "group.levels")), matrices = mats, printed = printed,
              check = chk)
    if (!is.null(msg)) r$nlme_error <- msg
    cat(sprintf("%s %-70s %-7s check %.2g\n", f$id, call_txt, source, chk))
    if (chk > 1e-10) cat("  !! hand computation differs\n")
    results[[length(results) + 1]] <- r
  }
  case <- list(id = f$id, title = f$title, dataset = f$dataset, kind = if (isLme) "lme" else "gls",
               r_call = f$r, lmmext_call = f$py, logLik = as.numeric(logLik(fit)),
               sigma = fit$sigma, results = results)
  if (isTRUE(f$derived))
    case$notes <- paste("nlme 3.1-162's getVarCov fails for conditional/marginal when the",
                        "correlation groups are nested inside the random-effects groups",
                        "(corMatrix is named 'Female/F03' etc., not by the random group); the",
                        "reference is sigma^2 W^-1 blockdiag(C_b) W^-1 (+ Z D Z') of the group,",
                        "computed by hand from the fit (source 'derived')")
  cases[[length(cases) + 1]] <- case
}

## nlme's refusals
err <- function(call, setup) {
  env <- new.env(parent = globalenv())
  assign("Orthodont", load_ds("Orthodont"), envir = env); assign("Ovary", load_ds("Ovary"), envir = env)
  eval(parse(text = setup), envir = env)
  m <- tryCatch({ eval(parse(text = call)[[1]], envir = env); NA_character_ },
                error = function(e) conditionMessage(e))
  cat(sprintf("error  %-60s -> %s\n", call, m))
  list(setup = setup, call = call, message = m)
}
errors <- list(
  err("getVarCov(fit)", "fit <- lme(distance ~ age, data = Orthodont, random = ~ 1 | Sex/Subject)"),
  err("getVarCov(fit, type = \"marginal\")", "fit <- lme(distance ~ age, data = Orthodont, random = ~ 1 | Sex/Subject)"),
  err("getVarCov(fit, type = \"foo\")", "fit <- lme(distance ~ age, data = Orthodont, random = ~ 1 | Subject)"),
  err("getVarCov(fit, individuals = \"M99\", type = \"conditional\")", "fit <- lme(distance ~ age, data = Orthodont, random = ~ 1 | Subject)"),
  err("getVarCov(fit, individuals = 99, type = \"conditional\")", "fit <- lme(distance ~ age, data = Orthodont, random = ~ 1 | Subject)"),
  err("getVarCov(fit)", "fit <- gls(distance ~ age, data = Orthodont)"),
  err("getVarCov(fit)", "fit <- gls(distance ~ age, data = Orthodont, correlation = corAR1())"),
  err("getVarCov(fit, individual = \"M99\")", "fit <- gls(distance ~ age, data = Orthodont, correlation = corAR1(form = ~ 1 | Subject))"),
  err("getVarCov(fit, individual = 99)", "fit <- gls(distance ~ age, data = Orthodont, correlation = corAR1(form = ~ 1 | Subject))")
)

dir.create(OUTDIR, showWarnings = FALSE, recursive = TRUE)
out <- list(
  description = paste("nlme 3.1-162 getVarCov() of lme and gls fits; matrices row by row with",
                      "nlme's dimnames; `printed` is print.VarCov's output; `check` the largest",
                      "difference from a hand computation (sigma, D, varWeights, corMatrix, Z)"),
  R = R.version.string, nlme = as.character(packageVersion("nlme")),
  cases = cases, errors = errors)
outfile <- file.path(OUTDIR, "getvarcov.json")
write_json(out, outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null")
cat("->", outfile, "\n")
