## Export the data sets used by the lmmext validation cases.
##
##   Rscript validation/R/export_data.R
##
## Writes validation/data/<name>.csv (nlme's row order, numbers with the shortest
## representation that reads back to the identical double, factor columns as quoted
## strings, missing values as NA) and validation/data/levels.json (for every factor
## column: level order and whether it is an ordered factor).
##
## * nlme data sets: Orthodont, Ovary, BodyWeight, Dialyzer, Machines, Oats, Pixel, Rail,
##   RatPupWeight, Wheat2, ergoStool (as bundled with nlme 3.1-162).
## * ratpup.csv: RatPupWeight with `treatment` (unordered, Control/High/Low) and `sex`
##   (Female/Male) re-coded as in the ASReml seed / shared case R14.
## * lactase.csv and sires.csv are transcribed from the seed documents; they are NOT
##   rewritten here (only their factor levels are recorded in levels.json).
## * simulated: sim_var.csv, sim_nested.csv, sim_cor.csv (fixed seeds, see below).
##
## After writing, every CSV is read back with the same loader the case scripts use
## (common.R: load_ds) and compared with the in-memory data (identical() on every column).
suppressPackageStartupMessages({library(nlme); library(jsonlite)})

get_script_dir <- function() {
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else getwd()
}
RDIR <- get_script_dir()
DATADIR <- normalizePath(file.path(RDIR, "..", "data"), mustWork = FALSE)
dir.create(DATADIR, showWarnings = FALSE, recursive = TRUE)

## shortest of %.15g / %.16g / %.17g that round-trips exactly (common.R)
source(file.path(RDIR, "common.R"))
fmt_num <- fmt_num_exact

levels_all <- list()

write_ds <- function(name, d) {
  d <- as.data.frame(d)
  attr(d, "formula") <- NULL; attr(d, "labels") <- NULL; attr(d, "units") <- NULL
  attr(d, "outer") <- NULL; attr(d, "inner") <- NULL; attr(d, "FUN") <- NULL
  attr(d, "order.groups") <- NULL
  class(d) <- "data.frame"
  rownames(d) <- NULL
  out <- d
  lv <- list()
  isf <- logical(ncol(d))
  for (j in seq_along(d)) {
    x <- d[[j]]
    if (is.factor(x)) {
      isf[j] <- TRUE
      lv[[names(d)[j]]] <- list(ordered = is.ordered(x), levels = I(levels(x)))
      out[[j]] <- as.character(x)
    } else if (is.character(x)) {
      stop("character column ", names(d)[j], " in ", name, ": make it a factor")
    } else {
      out[[j]] <- fmt_num(as.numeric(x))
    }
  }
  write.csv(out, file.path(DATADIR, paste0(name, ".csv")), row.names = FALSE,
            quote = which(isf), na = "NA")
  levels_all[[name]] <<- lv
  invisible(d)
}

## ---------------------------------------------------------------- nlme data sets
nlme_sets <- c("Orthodont", "Ovary", "BodyWeight", "Dialyzer", "Machines", "Oats", "Pixel",
               "Rail", "RatPupWeight", "Wheat2", "ergoStool")
mem <- list()
for (nm in nlme_sets) mem[[nm]] <- write_ds(nm, get(nm, envir = asNamespace("nlme")))

## RatPupWeight re-coded as in the ASReml seed (ASR008) / shared case R14
rp <- as.data.frame(RatPupWeight)
ratpup <- data.frame(weight = rp$weight,
                     sex = factor(as.character(rp$sex), levels = c("Female", "Male")),
                     Litter = factor(as.character(rp$Litter), levels = levels(rp$Litter)),
                     Lsize = rp$Lsize,
                     treatment = factor(as.character(rp$Treatment),
                                        levels = c("Control", "High", "Low")))
mem$ratpup <- write_ds("ratpup", ratpup)

## ---------------------------------------------------------------- seed data (kept as is)
levels_all$lactase <- list(
  litter = list(ordered = FALSE, levels = I(as.character(1:5))),
  pig    = list(ordered = FALSE, levels = I(as.character(1:20))),
  reg    = list(ordered = FALSE, levels = I(as.character(1:3))),
  status = list(ordered = FALSE, levels = I(as.character(1:2))))
levels_all$sires <- list(
  sire = list(ordered = FALSE, levels = I(c("177", "200", "201", "202", "203"))))

## ---------------------------------------------------------------- simulated data
## sim_var: heteroscedastic grouped data. 40 subjects (S01..S40), 5-8 visits each,
## subject-level strata grp (a/b/c) and sex (F/M), observation-level covariate
## x ~ U(0.5, 5), time t (irregular, increasing). Residual SD depends on grp, sex and x:
## SD = 0.3 * (1, 1.5, 0.7)[grp] * (1, 1.3)[sex] * (0.5 + x^1.5) (a varConstPower shape).
## Subject S01 is grp a / sex F, so the first stratum in nlme's sorted order is also the
## first factor level (a, F, "a*F").
set.seed(20240601)
nsub <- 40
rows <- list()
for (i in seq_len(nsub)) {
  ni <- sample(5:8, 1)
  g <- c("a", "b", "c")[(i - 1) %% 3 + 1]
  s <- c("F", "M")[((i - 1) %/% 3) %% 2 + 1]
  t <- round(cumsum(runif(ni, 0.5, 1.5)), 3)
  x <- round(runif(ni, 0.5, 5), 3)
  b0 <- rnorm(1, 0, 2); b1 <- rnorm(1, 0, 0.3)
  mu <- 10 + 1.5 * x + 0.8 * t + c(a = 0, b = 2, c = -1)[g] + c(F = 0, M = 1.5)[s]
  sdv <- 0.3 * c(a = 1, b = 1.5, c = 0.7)[g] * c(F = 1, M = 1.3)[s] * (0.5 + x^1.5)
  y <- mu + b0 + b1 * t + rnorm(ni, 0, sdv)
  rows[[i]] <- data.frame(id = sprintf("S%02d", i), grp = g, sex = s, t = t, x = x,
                          y = round(unname(y), 4))
}
sim_var <- do.call(rbind, rows)
sim_var$id <- factor(sim_var$id, levels = sprintf("S%02d", 1:nsub))
sim_var$grp <- factor(sim_var$grp, levels = c("a", "b", "c"))
sim_var$sex <- factor(sim_var$sex, levels = c("F", "M"))
mem$sim_var <- write_ds("sim_var", sim_var)

## sim_nested: three nested levels a/b/c: 8 'a' units (A1..A8), 3 'b' per a and 3 'c' per
## b with labels 1..3 that repeat (nesting must be taken from the formula, labels
## "A1/2/3"), 3 observations per c, one per treatment trt (ctl/t1/t2, first row ctl),
## observation covariate x. Residual SD depends on trt.
set.seed(20240602)
rows <- list()
for (a in 1:8) {
  ua <- rnorm(1, 0, 2)
  for (b in 1:3) {
    ub <- rnorm(1, 0, 1.2)
    for (cc in 1:3) {
      uc <- rnorm(1, 0, 0.8)
      trt <- c("ctl", "t1", "t2")
      x <- round(runif(3, 0, 10), 2)
      y <- 5 + 0.5 * x + c(ctl = 0, t1 = 1, t2 = -0.5)[trt] + ua + ub + uc +
        rnorm(3, 0, 0.6 * c(ctl = 1, t1 = 1.6, t2 = 0.6)[trt])
      rows[[length(rows) + 1]] <- data.frame(a = paste0("A", a), b = as.character(b),
                                             c = as.character(cc), trt = trt, x = x,
                                             y = round(unname(y), 4))
    }
  }
}
sim_nested <- do.call(rbind, rows)
sim_nested$a <- factor(sim_nested$a, levels = paste0("A", 1:8))
sim_nested$b <- factor(sim_nested$b, levels = as.character(1:3))
sim_nested$c <- factor(sim_nested$c, levels = as.character(1:3))
sim_nested$trt <- factor(sim_nested$trt, levels = c("ctl", "t1", "t2"))
mem$sim_nested <- write_ds("sim_nested", sim_nested)

## sim_cor: longitudinal data, 50 subjects (P01..P50), planned visits 1..6; visit 1 always
## present, later visits missing with probability 0.2 (at least 3 visits), so integer
## visit numbers have gaps; continuous irregular times time = visit + U(-0.3, 0.3)
## (strictly increasing). Errors: continuous-time AR(1) (phi = 0.5 per time unit) with SD
## ratio 1.4 for trt "act", plus a random intercept. trt alternates ctl/act (P01 = ctl).
set.seed(20240603)
rows <- list()
for (i in 1:50) {
  repeat {
    keep <- c(TRUE, runif(5) > 0.2)
    if (sum(keep) >= 3) break
  }
  v <- (1:6)[keep]
  tm <- round(v + runif(length(v), -0.3, 0.3), 3)
  trt <- c("ctl", "act")[(i - 1) %% 2 + 1]
  s <- if (trt == "act") 1.4 else 1
  e <- numeric(length(v)); e[1] <- rnorm(1, 0, s)
  for (j in seq_along(v)[-1]) {
    r <- 0.5^(tm[j] - tm[j - 1])
    e[j] <- r * e[j - 1] + sqrt(1 - r^2) * rnorm(1, 0, s)
  }
  y <- 20 + 0.5 * tm + (trt == "act") * (-1 + 0.3 * tm) + rnorm(1, 0, 1.5) + e
  rows[[i]] <- data.frame(id = sprintf("P%02d", i), trt = trt, visit = as.numeric(v), time = tm,
                          y = round(y, 4))
}
sim_cor <- do.call(rbind, rows)
sim_cor$id <- factor(sim_cor$id, levels = sprintf("P%02d", 1:50))
sim_cor$trt <- factor(sim_cor$trt, levels = c("ctl", "act"))
mem$sim_cor <- write_ds("sim_cor", sim_cor)

## ---------------------------------------------------------------- levels.json
## keep a stable order: nlme sets, derived/seed sets, simulated sets
write_json(levels_all, file.path(DATADIR, "levels.json"), auto_unbox = TRUE, pretty = TRUE)

## ---------------------------------------------------------------- round-trip check
source(file.path(RDIR, "common.R"))
ok <- TRUE
for (nm in names(mem)) {
  a <- mem[[nm]]; b <- load_ds(nm)
  same <- identical(dim(a), dim(b)) && all(names(a) == names(b)) &&
    all(mapply(function(u, v) {
      if (is.factor(u)) levels(u) <- unname(levels(u))   # RatPupWeight$Litter has named levels
      identical(u, v) }, a, b))
  if (!same) { ok <- FALSE; cat("ROUND-TRIP MISMATCH:", nm, "\n") }
}
for (nm in c("lactase", "sires")) {
  b <- load_ds(nm); cat(nm, ":", nrow(b), "rows,", sum(!complete.cases(b)), "with NA\n")
}
cat("wrote", length(mem), "CSV files +", "levels.json to", DATADIR,
    if (ok) "(round trip identical)" else "(ROUND TRIP FAILED)", "\n")
for (nm in c("sim_var", "sim_nested", "sim_cor"))
  cat(nm, ":", nrow(mem[[nm]]), "rows\n")
