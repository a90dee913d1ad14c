package i19;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.SubqueryExpression;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.View;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * Read-only guard for a shared SQL endpoint. Register with
 *   spark.sql.extensions=i19.GuardExtension
 * The check rule is dormant until GuardExtension.arm() is called (so the admin
 * session can set up tables/views first); sessions passed to exempt() are never checked.
 * It runs on the *analyzed* plan (Analyzer.checkAnalysis -> extendedCheckRules), which
 * happens before commands are eagerly executed.
 */
public class GuardExtension extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {

  private static volatile boolean armed = false;
  private static final Set<Object> exempt = Collections.synchronizedSet(
      Collections.newSetFromMap(new IdentityHashMap<>()));
  public static volatile boolean debug = Boolean.getBoolean("i19.guard.debug");

  public static void arm() { armed = true; }
  public static void disarm() { armed = false; }
  public static boolean isArmed() { return armed; }
  public static void exempt(SparkSession s) { exempt.add(s); }

  /** Session confs a client must not change (e.g. via the JDBC URL / openSession overlay,
   *  which Spark's SparkSQLSessionManager applies with setConf, not through a SET statement). */
  private static final java.util.Map<String, String> pinned = new java.util.concurrent.ConcurrentHashMap<>();
  public static void pin(String key, String value) { pinned.put(key, value); }

  /** Commands a read-only client may run (simple class names of analyzed plan nodes). */
  static final Set<String> ALLOWED_COMMANDS = new HashSet<>(Arrays.asList(
      "SetNamespaceCommand", "SetCatalogAndNamespace",
      "ShowTablesCommand", "ShowTables", "ShowTablesExtended", "ShowViews", "ShowViewsCommand",
      "ShowNamespaces", "ShowNamespacesCommand", "ShowCatalogs", "ShowCatalogsCommand",
      "ShowCurrentNamespaceCommand", "ShowCurrentNamespace",
      "DescribeTableCommand", "DescribeRelation", "DescribeColumnCommand", "DescribeColumn",
      "DescribeNamespace", "DescribeDatabaseCommand",
      "ShowColumnsCommand", "ShowColumns", "ShowFunctions", "ShowFunctionsCommand",
      "DescribeFunctionCommand", "DescribeFunction"));

  static final Set<String> FORBIDDEN_PLAN_NODES = new HashSet<>(Arrays.asList(
      "InsertIntoStatement", "InsertIntoDir", "CreateFunction", "CreateTable", "CreateView"));

  static final Set<String> FORBIDDEN_EXPRESSIONS = new HashSet<>(Arrays.asList(
      "CallMethodViaReflection", "TryReflect"));

  static RuntimeException deny(String why) {
    return new SecurityException("[i19 guard] statement refused: " + why);
  }

  static void checkExpr(Expression e) {
    String n = e.getClass().getSimpleName();
    if (FORBIDDEN_EXPRESSIONS.contains(n)) throw deny("function " + e.prettyName() + "() is not allowed");
    if (e instanceof SubqueryExpression) checkPlan(((SubqueryExpression) e).plan());
    scala.collection.Iterator<Expression> it = e.children().iterator();
    while (it.hasNext()) checkExpr(it.next());
  }

  static void checkPlan(LogicalPlan p) {
    String n = p.getClass().getSimpleName();
    if (debug) System.err.println("[i19 guard] node " + p.getClass().getName());
    if (p instanceof View) {
      // view definitions were created by the (exempt/unarmed) admin: trusted, do not descend
      return;
    }
    if (p instanceof Command) {
      if (!ALLOWED_COMMANDS.contains(n)) throw deny("command " + n + " is not allowed (read-only endpoint)");
    }
    if (FORBIDDEN_PLAN_NODES.contains(n)) throw deny(n + " is not allowed (read-only endpoint)");
    if (p instanceof LogicalRelation) {
      LogicalRelation r = (LogicalRelation) p;
      if (r.catalogTable().isEmpty())
        throw deny("path-based read (" + r.relation().getClass().getSimpleName() + ") is not allowed; query a catalog table or view");
    }
    if (p instanceof DataSourceV2Relation) {
      DataSourceV2Relation r = (DataSourceV2Relation) p;
      boolean pathLike = r.identifier().isEmpty();
      if (!pathLike) {
        String name = r.identifier().get().name();
        pathLike = name.startsWith("/") || name.contains(":/");
      }
      if (pathLike) throw deny("path-based read (" + r.table().name() + ") is not allowed");
    }
    scala.collection.Iterator<Expression> ex = p.expressions().iterator();
    while (ex.hasNext()) checkExpr(ex.next());
    scala.collection.Iterator<LogicalPlan> ch = p.children().iterator();
    while (ch.hasNext()) checkPlan(ch.next());
  }

  /**
   * Trusted nested analyses: (a) a view body being resolved (the admin wrote it);
   * (b) Delta's own internal DataFrames, e.g. DeltaLog.loadIndex reads _delta_log/*.json and
   * checkpoints as a path-based relation (DataFrameUtils.ofRows -> assertAnalyzed) whenever a
   * snapshot is (re)loaded - refusing those would break every Delta table after an update.
   * The client's own statement is always analyzed from SparkExecuteStatementOperation, not
   * from inside these frames, so it is still checked in full.
   */
  static boolean inViewResolution() {
    return StackWalker.getInstance().walk(st -> st.anyMatch(f -> {
        String c = f.getClassName();
        return c.startsWith("org.apache.spark.sql.catalyst.analysis.ViewResolution")
            || c.startsWith("org.apache.spark.sql.delta.");
    }));
  }

  static final class Check extends AbstractFunction1<LogicalPlan, BoxedUnit> {
    private final SparkSession session;
    Check(SparkSession s) { session = s; }
    @Override public BoxedUnit apply(LogicalPlan plan) {
      if (!armed || exempt.contains(session)) return BoxedUnit.UNIT;
      // Spark 4.2 also runs checkAnalysis on each view body while resolving it
      // (Analyzer.ResolveRelations.resolveViews -> ViewResolution.resolve -> checkAnalysis),
      // with AnalysisContext.nestedViewDepth already back to 0. View bodies were written by the
      // admin (clients cannot CREATE VIEW), so they are trusted: skip checks made from there.
      if (inViewResolution()) return BoxedUnit.UNIT;
      for (java.util.Map.Entry<String, String> e : pinned.entrySet()) {
        String v = session.sessionState().conf().getConfString(e.getKey(), "<unset>");
        if (!e.getValue().equalsIgnoreCase(v))
          throw deny("session configuration " + e.getKey() + " was changed (" + v + "); reconnect without it");
      }
      checkPlan(plan);
      return BoxedUnit.UNIT;
    }
  }

  @Override
  public BoxedUnit apply(SparkSessionExtensions ext) {
    ext.injectCheckRule(new AbstractFunction1<SparkSession, scala.Function1<LogicalPlan, BoxedUnit>>() {
      @Override public scala.Function1<LogicalPlan, BoxedUnit> apply(SparkSession s) { return new Check(s); }
    });
    return BoxedUnit.UNIT;
  }
}
