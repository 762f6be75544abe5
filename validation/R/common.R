## Shared helpers for the lmmext validation case scripts (sourced by export_data.R and
## cases_*.R). R 4.2.2 / nlme 3.1-162.
##
## * load_ds(name): validation/data/<name>.csv with the factor levels/orderedness of
##   validation/data/levels.json (factor columns read as strings, all other columns as
##   doubles, "NA"/"" = missing). This is exactly the data the Python runner builds.
## * run_cases(specs, group): evaluates each spec's r_call (a string, run verbatim with the
##   data set bound to its name), dumps the fit with dump_case() and writes
##   validation/references/<group>.json.
suppressPackageStartupMessages({library(nlme); library(jsonlite)})
options(contrasts = c("contr.treatment", "contr.poly"), digits = 15)

if (!exists("RDIR")) {
  RDIR <- local({
    a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
    if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else getwd()
  })
}
VALDIR <- normalizePath(file.path(RDIR, ".."), mustWork = FALSE)
DATADIR <- file.path(VALDIR, "data")
REFDIR <- file.path(VALDIR, "references")
SHARED_JSON <- "/work/shared/docs/nlme-reference-cases.json"   # optional cross-check only

load_ds <- function(name) {
  lv <- fromJSON(file.path(DATADIR, "levels.json"), simplifyVector = TRUE)[[name]]
  file <- file.path(DATADIR, paste0(name, ".csv"))
  hdr <- names(read.csv(file, nrows = 1, check.names = FALSE))
  cls <- ifelse(hdr %in% names(lv), "character", "numeric")
  d <- read.csv(file, colClasses = cls, na.strings = c("NA", ""), check.names = FALSE)
  for (v in names(lv))
    d[[v]] <- factor(d[[v]], levels = lv[[v]]$levels, ordered = isTRUE(lv[[v]]$ordered))
  d
}

NLME_SETS <- c("Orthodont", "Ovary", "BodyWeight", "Dialyzer", "Machines", "Oats", "Pixel",
               "Rail", "RatPupWeight", "Wheat2", "ergoStool")

shared <- if (file.exists(SHARED_JSON)) fromJSON(SHARED_JSON, simplifyVector = FALSE) else NULL

## value from the shared JSON by path "R07/ML_logLik" (default field logLik)
shared_value <- function(path) {
  if (is.null(shared)) return(NA_real_)
  parts <- strsplit(path, "/", fixed = TRUE)[[1]]
  if (length(parts) == 1) parts <- c(parts, "logLik")
  x <- shared
  for (p in parts) { x <- x[[p]]; if (is.null(x)) return(NA_real_) }
  as.numeric(x)
}

fmtg <- function(x, d = 15) sprintf(paste0("%.", d, "g"), x)

rows_to_list <- function(df) {
  lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE]))
}

anova_rows <- function(a, isLme, denom) {
  a <- as.data.frame(a)
  lapply(seq_len(nrow(a)), function(i) {
    r <- list(term = rownames(a)[i], numDF = a[i, "numDF"],
              denDF = if (isLme) a[i, "denDF"] else denom,
              `F-value` = a[i, "F-value"], `p-value` = a[i, "p-value"])
    r
  })
}

## pad a vector over the rows used by the fit (original order; lme names its values by
## group labels, so positions come from fit$na.action) to the full data length
pad_full <- function(v, data, fit) {
  out <- rep(NA_real_, nrow(data))
  used <- setdiff(seq_len(nrow(data)), as.integer(fit$na.action))
  stopifnot(length(v) == length(used))
  out[used] <- as.numeric(v)
  out
}

## grouping variables (outer -> inner) that nlme sorts by
sort_vars <- function(fit) {
  if (inherits(fit, "lme")) {
    gv <- names(fit$groups)   # outer -> inner
    cs <- fit$modelStruct$corStruct
    if (!is.null(cs)) {
      cg <- all.vars(getGroupsFormula(formula(cs)))
      gv <- unique(c(gv, cg))
    }
    gv
  } else {
    cs <- fit$modelStruct$corStruct
    if (is.null(cs)) character(0) else all.vars(getGroupsFormula(formula(cs)))
  }
}

## evaluate an R call string with `dataset` bound to `data`
eval_call <- function(r_call, dataset, data) {
  env <- new.env(parent = globalenv())
  assign(dataset, data, envir = env)
  eval(parse(text = r_call)[[1]], envir = env)
}

dump_case <- function(spec, group, fit, data, notes = character(0)) {
  isLme <- inherits(fit, "lme")
  s <- summary(fit)
  ll <- logLik(fit)
  tt <- s$tTable
  N <- fit$dims$N; p <- fit$dims$p
  fe <- data.frame(term = rownames(tt), estimate = tt[, "Value"], se = tt[, "Std.Error"],
                   df = if (isLme) tt[, "DF"] else rep(N - p, nrow(tt)),
                   t = tt[, "t-value"], row.names = NULL, stringsAsFactors = FALSE)
  ms <- fit$modelStruct
  out <- list(id = spec$id, group = group, title = spec$title, dataset = spec$dataset,
              r_call = spec$r_call, lmmext_call = spec$py, method = fit$method,
              nobs = N, logLik = as.numeric(ll), df = attr(ll, "df"),
              AIC = AIC(fit), BIC = BIC(fit), sigma = fit$sigma, fixef = fe)
  if (!is.null(ms$varStruct)) {
    vs <- coef(ms$varStruct, unconstrained = FALSE, allCoef = TRUE)
    if (length(vs)) out$varStruct <- as.list(vs)
  }
  if (!is.null(ms$corStruct)) {
    cc <- coef(ms$corStruct, unconstrained = FALSE)
    if (is.null(names(cc)) && length(cc)) {   # corSymm: name pairs as intervals() does
      mC <- attr(ms$corStruct, "maxCov")
      names(cc) <- outer(1:mC, 1:mC, function(x, y) paste0("cor(", y, ",", x, ")"))[lower.tri(diag(mC))]
    }
    out$corStruct <- as.list(cc)
  }
  if (isLme) {
    re <- list()
    for (nm in names(ms$reStruct)) {
      M <- as.matrix(ms$reStruct[[nm]]) * fit$sigma^2
      re[[nm]] <- list(sd = as.list(sqrt(diag(M))))
      if (ncol(M) > 1) re[[nm]]$cor <- cov2cor(M)[lower.tri(M)]
    }
    out$reSD <- re
    out$ngrps <- as.list(fit$dims$ngrps[1:fit$dims$Q])
  }
  out$resid_quantiles <- as.list(s$residuals)
  if (!isFALSE(spec$anova)) {
    out$anova <- list(sequential = anova_rows(anova(fit), isLme, N - p),
                      marginal = anova_rows(anova(fit, type = "marginal"), isLme, N - p))
  }
  if (isLme) {
    rf <- ranef(fit)
    if (is.data.frame(rf)) { rf <- list(rf); names(rf) <- names(fit$groups)[1] }
    out$ranef <- lapply(rf, function(df) {
      df <- as.data.frame(df)
      setNames(lapply(seq_len(nrow(df)), function(i) as.list(df[i, , drop = FALSE])),
               rownames(df))
    })
  }
  if (nrow(data) <= 400) {
    out$fitted <- pad_full(fitted(fit), data, fit)
    rp <- residuals(fit, type = "pearson")
    out$resid_pearson <- pad_full(rp, data, fit)
    rn <- residuals(fit, type = "normalized")
    if (is.null(ms$corStruct)) {
      out$resid_normalized <- pad_full(rn, data, fit)
    } else {
      gv <- sort_vars(fit)
      ord <- if (length(gv)) do.call(order, unname(as.list(data[gv]))) else seq_len(nrow(data))
      if (identical(ord, seq_len(nrow(data)))) {
        out$resid_normalized <- pad_full(rn, data, fit)
        notes <- c(notes, "data already in nlme's sorted order: resid_normalized is nlme's")
      } else {
        fs <- eval_call(spec$r_call, spec$dataset, data[ord, , drop = FALSE])
        good <- numeric(nrow(data))
        good[ord] <- pad_full(residuals(fs, type = "normalized"), data[ord, , drop = FALSE], fs)
        mine <- pad_full(rn, data, fit)
        dll <- abs(as.numeric(logLik(fs)) - as.numeric(ll))
        dd <- max(abs(good - mine), na.rm = TRUE)
        if (dd < 1e-7) {
          out$resid_normalized <- mine
          notes <- c(notes, sprintf(paste(
            "data not in nlme's sorted order, but nlme's normalized residuals equal those of",
            "a refit on sorted data (max diff %.1e; identical blocks), so they are included"), dd))
        } else {
          notes <- c(notes, sprintf(paste(
            "resid_normalized omitted: data not in nlme's sorted order and nlme 3.1-162",
            "scrambles normalized residuals (trap 13; max diff vs refit on sorted data %.3g,",
            "refit logLik diff %.1e)"), dd, dll))
        }
      }
    }
  }
  iv <- tryCatch(intervals(fit), error = function(e) e)
  if (inherits(iv, "error")) {
    notes <- c(notes, paste0("intervals(fit) fails in nlme (", conditionMessage(iv),
                             "); only fixed-effects intervals given"))
    iv <- tryCatch(intervals(fit, which = "fixed"), error = function(e) NULL)
  }
  if (!is.null(iv)) {
    out$intervals <- lapply(unclass(iv), function(el) {
      if (is.list(el) && !is.data.frame(el))
        lapply(el, function(e) { e <- as.matrix(e); data.frame(name = rownames(e), e, row.names = NULL) })
      else if (is.matrix(el)) data.frame(name = rownames(el), el, row.names = NULL)
      else as.list(el)
    })
  }
  if (is.matrix(fit$apVar)) {
    av <- fit$apVar
    out$apVar <- unname(split(as.numeric(av), row(av)))
    out$apVar_names <- rownames(av)
    out$apVar_Pars <- as.list(attr(av, "Pars"))
  } else if (is.character(fit$apVar)) {
    out$apVar <- fit$apVar
    notes <- c(notes, paste("apVar:", fit$apVar))
  }
  if (!is.null(iv) && any(!is.finite(unlist(lapply(unclass(iv), function(el)
    if (is.list(el)) unlist(lapply(el, as.matrix)) else as.numeric(el))))))
    notes <- c(notes, "some interval bounds are infinite/NaN in nlme (written as null)")
  if (is.function(spec$name_map)) {
    nm <- spec$name_map(fe$term)
    if (length(nm)) out$name_map <- nm
  } else if (!is.null(spec$name_map)) out$name_map <- spec$name_map
  allnotes <- gsub("\\s+", " ", c(spec$notes, notes))
  if (length(allnotes)) out$notes <- paste(allnotes, collapse = "; ")
  out
}

OPTCHK <- list()
## fit all specs, cross-check, write JSON, print one line per case
run_cases <- function(specs, group) {
  cases <- list()
  for (spec in specs) {
    data <- load_ds(spec$dataset)
    warns <- character(0)
    fit <- withCallingHandlers(
      tryCatch(eval_call(spec$r_call, spec$dataset, data), error = function(e) e),
      warning = function(w) { warns <<- c(warns, conditionMessage(w)); invokeRestart("muffleWarning") })
    if (inherits(fit, "error")) {
      cat(sprintf("%-5s FAILED: %s\n", spec$id, conditionMessage(fit)))
      next
    }
    notes <- character(0)
    if (length(warns)) notes <- c(notes, paste("R warnings:", paste(unique(warns), collapse = " | ")))
    ll <- as.numeric(logLik(fit))
    ## same call on nlme's own groupedData object
    if (spec$dataset %in% NLME_SETS && !isFALSE(spec$gd)) {
      gfit <- suppressWarnings(eval_call(spec$r_call, spec$dataset,
                                         get(spec$dataset, envir = asNamespace("nlme"))))
      d <- abs(as.numeric(logLik(gfit)) - ll)
      if (d > 1e-8) cat(sprintf("  !! %s: groupedData logLik differs by %.3g\n", spec$id, d))
      notes <- c(notes, sprintf("logLik equals the fit on nlme's groupedData %s (|diff| %.1e)",
                                spec$dataset, d))
    }
    for (chk in spec$check) {
      if (is.numeric(chk)) {               # printed seed value, 5 decimals
        d <- abs(ll - chk)
        if (d > 1e-4) cat(sprintf("  !! %s: seed logLik %s, got %s\n", spec$id, chk, fmtg(ll)))
        notes <- c(notes, sprintf("seed logLik %s reproduced (|diff| %.1e)", format(chk, digits = 10), d))
      } else {
        ref <- shared_value(chk)
        if (is.na(ref)) { cat("  !! shared value not found:", chk, "\n"); next }
        d <- abs(ll - ref)
        if (d > 1e-6) cat(sprintf("  !! %s: shared %s = %s, got %s\n", spec$id, chk, fmtg(ref), fmtg(ll)))
        notes <- c(notes, sprintf("logLik reproduces shared %s (|diff| %.1e)", chk, d))
      }
    }
    ## optimum check: refit with much tighter optimizer settings (lme: nlminb rel.tol 1e-14;
    ## gls: BFGS with msTol 1e-15; outer tolerance 1e-10) and report if it gains logLik
    env <- new.env(parent = globalenv()); assign(spec$dataset, data, envir = env)
    ctrls <- if (inherits(fit, "lme"))
      list(quote(lmeControl(rel.tol = 1e-14, msMaxIter = 500, msMaxEval = 2000, tolerance = 1e-10, returnObject = TRUE)),
           quote(lmeControl(opt = "optim", msMaxIter = 500, returnObject = TRUE)))
    else list(quote(glsControl(opt = "optim", msTol = 1e-15, msMaxIter = 1000, tolerance = 1e-10, returnObject = TRUE)),
              quote(glsControl(opt = "optim", msMaxIter = 500, returnObject = TRUE)))
    gains <- c()
    for (ct in ctrls) {
      cl <- parse(text = spec$r_call)[[1]]
      cl$control <- ct
      alt <- tryCatch(suppressWarnings(eval(cl, env)), error = function(e) NULL)
      if (!is.null(alt)) gains <- c(gains, as.numeric(logLik(alt)) - ll)
    }
    if (length(gains)) {
      d <- max(gains)
      OPTCHK[[spec$id]] <<- d
      if (d > 1e-6) {
        cat(sprintf("  !! %s: alternative optimizer settings give a higher logLik by %.3g\n", spec$id, d))
        notes <- c(notes, sprintf("a refit with other optimizer settings reaches a logLik higher by %.2g (nlme's default stops early; compare with tolerance)", d))
      }
    } else cat(sprintf("  (%s: optimizer re-checks failed)\n", spec$id))
    cases[[length(cases) + 1]] <- dump_case(spec, group, fit, data, notes)
  }
  dir.create(REFDIR, showWarnings = FALSE, recursive = TRUE)
  outfile <- file.path(REFDIR, paste0(group, ".json"))
  write_json(cases, outfile, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")
  cat("\n== ", group, ": ", length(cases), " of ", length(specs), " cases -> ", outfile, "\n", sep = "")
  for (cs in cases)
    cat(sprintf("%-5s %-6s logLik %s  df %2d  tight-diff %9.2g  %s\n", cs$id, cs$method, fmtg(cs$logLik),
                as.integer(cs$df), if (is.null(OPTCHK[[cs$id]])) NA else OPTCHK[[cs$id]], cs$title))
  invisible(cases)
}

## name_map helpers (R fixef term -> patsy column name) where the runner's automatic
## normalization (drop "np.", X[T.a] -> Xa, Intercept -> (Intercept), no spaces) fails:
## powers written I(v**k) in Python, and factor columns of a model without intercept
## (patsy: variety[ARAPAHOE], not variety[T.ARAPAHOE]).
pow_map <- function(factors = character(0)) function(terms) {
  conv <- function(tm) {
    parts <- strsplit(tm, ":", fixed = TRUE)[[1]]
    parts <- vapply(parts, function(p) {
      p <- gsub("\\^([0-9]+)", " ** \\1", p)
      for (f in factors)
        if (startsWith(p, f) && p != f) p <- paste0(f, "[T.", substring(p, nchar(f) + 1), "]")
      p }, "")
    paste(parts, collapse = ":")
  }
  hit <- grepl("^", terms, fixed = TRUE)
  as.list(setNames(vapply(terms[hit], conv, ""), terms[hit]))
}
noint_map <- function(f) function(terms) {
  hit <- startsWith(terms, f)
  as.list(setNames(paste0(f, "[", substring(terms[hit], nchar(f) + 1), "]"), terms[hit]))
}

## spec constructor
case <- function(id, title, dataset, r_call, py, check = NULL, notes = NULL,
                 name_map = NULL, anova = TRUE, gd = TRUE) {
  list(id = id, title = title, dataset = dataset, r_call = r_call, py = py, check = check,
       notes = notes, name_map = name_map, anova = anova, gd = gd)
}

## shortest of %.15g / %.16g / %.17g that round-trips exactly (as export_data.R writes)
fmt_num_exact <- function(x) {
  out <- sprintf("%.15g", x)
  for (d in 16:17) {
    bad <- !is.na(x) & as.numeric(out) != x
    if (!any(bad)) break
    out[bad] <- sprintf(paste0("%.", d, "g"), x[bad])
  }
  out[is.na(x)] <- NA
  out
}

## write a data set not exported by export_data.R (in R's row order) to data/<name>.csv
## and add only its factor levels to levels.json (re-read right before writing)
write_dataset <- function(name, d) {
  d <- as.data.frame(d)
  for (a in c("formula", "labels", "units", "outer", "inner", "FUN", "order.groups"))
    attr(d, a) <- NULL
  class(d) <- "data.frame"
  rownames(d) <- NULL
  out <- d
  lv <- list()
  isf <- vapply(d, is.factor, logical(1))
  for (j in seq_along(d)) {
    if (isf[j]) {
      lv[[names(d)[j]]] <- list(ordered = is.ordered(d[[j]]), levels = I(levels(d[[j]])))
      out[[j]] <- as.character(d[[j]])
    } else out[[j]] <- fmt_num_exact(as.numeric(d[[j]]))
  }
  write.csv(out, file.path(DATADIR, paste0(name, ".csv")), row.names = FALSE,
            quote = which(isf), na = "NA")
  file <- file.path(DATADIR, "levels.json")
  all <- fromJSON(file, simplifyVector = FALSE)
  # levels back to character vectors, so every entry keeps export_data.R's layout
  all <- lapply(all, function(ds) lapply(ds, function(col)
    list(ordered = col$ordered, levels = I(as.character(unlist(col$levels))))))
  all[[name]] <- lv
  write_json(all, file, auto_unbox = TRUE, pretty = TRUE)
  back <- load_ds(name)
  if (!(identical(dim(back), dim(d)) && all(mapply(identical, d, back))))
    stop(name, ": the CSV does not read back identically")
}
